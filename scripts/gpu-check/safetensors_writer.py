"""A safetensors writer in plain Python (no safetensors package assumed on the GPU machine): an 8-byte
little-endian header length, the JSON header padded with spaces to a multiple of 8 (so every tensor starts
aligned, as the reference writer does), then the tensors' raw little-endian bytes, back to back."""

import json
import struct
import sys

# torch dtype name → safetensors dtype
_DTYPES = {
    "torch.float32": "F32",
    "torch.float16": "F16",
    "torch.bfloat16": "BF16",
    "torch.float64": "F64",
    "torch.int64": "I64",
    "torch.int32": "I32",
    "torch.uint8": "U8",
}


def tensor_bytes(tensor):
    """The raw bytes of a CPU tensor, row-major, little-endian (numpy where the dtype allows it)."""
    t = tensor.detach().cpu().contiguous()
    if str(t.dtype) == "torch.bfloat16":
        import torch

        t = t.view(torch.int16)
    data = t.numpy().tobytes()
    if sys.byteorder != "little":
        raise RuntimeError("safetensors_writer: big-endian hosts are not supported")
    return data


def save(path, tensors, metadata=None):
    """Writes the ordered mapping name → torch tensor to `path`."""
    header = {}
    blobs = []
    offset = 0
    for name, tensor in tensors.items():
        dtype = _DTYPES.get(str(tensor.dtype))
        if dtype is None:
            raise ValueError(f"safetensors_writer: {name} has dtype {tensor.dtype}, which this writer does not handle")
        data = tensor_bytes(tensor)
        header[name] = {"dtype": dtype, "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
