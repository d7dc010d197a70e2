// What a JPEG stream says about itself, read in plain C++ before any decoder sees it: the frame (SOF: coding
// process, precision, size, components and their sampling factors), the scans (how many, whether the first
// interleaves every component), the colour transform markers (JFIF, Adobe APP14, component ids) and the EXIF
// orientation, and whether the stream reaches its EOI. The image batch planner (image_batch_plan.h) decides
// from this which decoder takes the image. Hostile bytes are expected: every read is bounds-checked, the walk
// is linear in the input and allocates nothing, and anything malformed is an error that says what and where.
// Marker codes and segment layouts: ITU-T T.81 (JPEG) Annex B; APP14 "Adobe": Adobe Technical Note 5116;
// EXIF: CIPA DC-008 (TIFF header and IFD0 of the APP1 "Exif" segment).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace resnet {
namespace cuda {

/// The coding process of a frame, from its SOF marker (T.81 Table B.1).
enum class JpegCoding {
  kBaseline,            // SOF0: baseline sequential DCT, Huffman
  kExtendedSequential,  // SOF1: extended sequential DCT, Huffman
  kProgressive,         // SOF2: progressive DCT, Huffman
  kLossless,            // SOF3: lossless, Huffman
  kHierarchical,        // SOF5–SOF7, SOF13–SOF15: differential (hierarchical) frames
  kArithmetic,          // SOF9–SOF11: arithmetic coding
};

/// "baseline", "extended sequential", "progressive", "lossless", "hierarchical", "arithmetic-coded".
const char* jpeg_coding_name(JpegCoding coding);

/// Chroma subsampling as nvJPEG names it (nvjpegChromaSubsampling_t): from the sampling factors of a 3-component
/// frame whose two chroma components are sampled alike, or kGray for one component; kUnknown otherwise.
enum class ChromaSubsampling { k444, k422, k420, k440, k411, k410, kGray, kUnknown };

/// "4:4:4", "4:2:2", "4:2:0", "4:4:0", "4:1:1", "4:1:0", "grey", "unknown".
const char* chroma_subsampling_name(ChromaSubsampling subsampling);

/// How the samples of a 3-component frame are coded, as libjpeg decides it (jdapimin.c's default_decompress_parms):
/// JFIF → YCbCr; else Adobe APP14 transform 0 → RGB, 1 → YCbCr, 2 → YCCK; else component ids 'R','G','B' → RGB;
/// else YCbCr. One component is grey; four are CMYK (YCCK with Adobe transform 2).
enum class JpegColour { kGrey, kYCbCr, kRgb, kCmyk, kYcck, kOther };

/// "grey", "YCbCr", "RGB", "CMYK", "YCCK", "other".
const char* jpeg_colour_name(JpegColour colour);

/// The largest number of components a frame may have here (nvJPEG decodes up to 4: NVJPEG_MAX_COMPONENT).
constexpr int kJpegMaxComponents = 4;

struct JpegComponent {
  int id = 0;
  int h = 0, v = 0;  // sampling factors, 1..4
};

/// A parsed JPEG header. Sizes are as coded; the EXIF orientation is not applied to them.
struct JpegHeader {
  JpegCoding coding = JpegCoding::kBaseline;
  int sof_marker = 0;  // 0xC0 …
  int precision = 0;   // bits per sample
  int width = 0, height = 0;
  int components = 0;
  JpegComponent component[kJpegMaxComponents];
  ChromaSubsampling subsampling = ChromaSubsampling::kUnknown;
  JpegColour colour = JpegColour::kOther;
  int scans = 0;                        // SOS segments before EOI
  bool first_scan_interleaved = false;  // the first scan codes every component of the frame
  bool restart_interval = false;        // a DRI segment with a non-zero interval
  int exif_orientation = 0;             // the first APP1 Exif IFD0 Orientation (1..8), 0 when absent or unreadable
};

/// The outcome of parsing: a header, or why the bytes are not a JPEG this code can read. `truncated` says that
/// the stream ended before its EOI marker (the header itself may still be complete).
struct JpegParse {
  bool ok = false;
  bool truncated = false;
  std::string error;  // "" when ok
  JpegHeader header;
};

/// Whether `data` starts like a JPEG (SOI followed by a marker).
bool looks_like_jpeg(const uint8_t* data, size_t size);

/// Walks the whole stream: every marker segment up to EOI, the entropy-coded data of each scan skipped byte by
/// byte (stuffed 0xFF00 and RSTn markers stay inside a scan). Never reads outside [data, data + size).
JpegParse parse_jpeg(const uint8_t* data, size_t size);

}  // namespace cuda
}  // namespace resnet
