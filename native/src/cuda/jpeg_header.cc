#include "cuda/jpeg_header.h"

#include <cstring>

#include "status.h"

namespace resnet {
namespace cuda {
namespace {

/// Bounds-checked big/little-endian reads over one span; every caller asks has() first.
class Span {
 public:
  Span(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  size_t size() const { return size_; }
  bool has(size_t offset, size_t count) const { return offset <= size_ && count <= size_ - offset; }
  uint8_t u8(size_t offset) const { return data_[offset]; }
  uint32_t u16(size_t offset, bool little = false) const {
    return little ? data_[offset] | data_[offset + 1] << 8 : data_[offset] << 8 | data_[offset + 1];
  }
  uint32_t u32(size_t offset, bool little) const {
    return little ? u16(offset, true) | u16(offset + 2, true) << 16 : u16(offset) << 16 | u16(offset + 2);
  }
  bool starts_with(size_t offset, const char* text, size_t length) const {
    return has(offset, length) && std::memcmp(data_ + offset, text, length) == 0;
  }
  Span sub(size_t offset, size_t count) const { return Span(data_ + offset, count); }

 private:
  const uint8_t* data_;
  size_t size_;
};

std::string hex(int value) {
  static const char kDigits[] = "0123456789ABCDEF";
  return cat("0x", kDigits[(value >> 4) & 15], kDigits[value & 15]);
}

bool is_frame_marker(int marker) {
  // SOF0–SOF15 without DHT (C4), JPG (C8) and DAC (CC).
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

JpegCoding coding_of(int marker) {
  switch (marker) {
    case 0xC0: return JpegCoding::kBaseline;
    case 0xC1: return JpegCoding::kExtendedSequential;
    case 0xC2: return JpegCoding::kProgressive;
    case 0xC3: return JpegCoding::kLossless;
    case 0xC9:
    case 0xCA:
    case 0xCB: return JpegCoding::kArithmetic;
    default: return JpegCoding::kHierarchical;  // C5–C7, CD–CF
  }
}

/// The Orientation (tag 0x0112, SHORT) of IFD0 in an APP1 "Exif\0\0" body, or 0.
int exif_orientation(Span body) {
  if (!body.starts_with(0, "Exif\0\0", 6)) return 0;
  const Span tiff = body.sub(6, body.size() - 6);
  if (!tiff.has(0, 8)) return 0;
  bool little;
  if (tiff.starts_with(0, "II", 2)) {
    little = true;
  } else if (tiff.starts_with(0, "MM", 2)) {
    little = false;
  } else {
    return 0;
  }
  if (tiff.u16(2, little) != 42) return 0;
  const size_t ifd = tiff.u32(4, little);
  if (!tiff.has(ifd, 2)) return 0;
  const size_t entries = tiff.u16(ifd, little);
  for (size_t k = 0; k < entries; ++k) {
    const size_t entry = ifd + 2 + 12 * k;
    if (!tiff.has(entry, 12)) return 0;
    if (tiff.u16(entry, little) != 0x0112) continue;
    const uint32_t type = tiff.u16(entry + 2, little);
    const uint32_t count = tiff.u32(entry + 4, little);
    if (type != 3 || count < 1) return 0;  // SHORT, stored in the first two bytes of the value field
    const uint32_t value = tiff.u16(entry + 8, little);
    return value >= 1 && value <= 8 ? static_cast<int>(value) : 0;
  }
  return 0;
}

ChromaSubsampling subsampling_of(const JpegHeader& header) {
  if (header.components == 1) return ChromaSubsampling::kGray;
  if (header.components != 3) return ChromaSubsampling::kUnknown;
  const JpegComponent& y = header.component[0];
  const JpegComponent& cb = header.component[1];
  const JpegComponent& cr = header.component[2];
  if (cb.h != cr.h || cb.v != cr.v || y.h % cb.h != 0 || y.v % cb.v != 0) return ChromaSubsampling::kUnknown;
  const int rh = y.h / cb.h, rv = y.v / cb.v;
  if (rh == 1 && rv == 1) return ChromaSubsampling::k444;
  if (rh == 2 && rv == 1) return ChromaSubsampling::k422;
  if (rh == 2 && rv == 2) return ChromaSubsampling::k420;
  if (rh == 1 && rv == 2) return ChromaSubsampling::k440;
  if (rh == 4 && rv == 1) return ChromaSubsampling::k411;
  if (rh == 4 && rv == 2) return ChromaSubsampling::k410;
  return ChromaSubsampling::kUnknown;
}

JpegColour colour_of(const JpegHeader& header, bool jfif, int adobe_transform) {
  const JpegComponent* c = header.component;
  switch (header.components) {
    case 1: return JpegColour::kGrey;
    case 3:
      if (jfif) return JpegColour::kYCbCr;
      if (adobe_transform >= 0) return adobe_transform == 0 ? JpegColour::kRgb : JpegColour::kYCbCr;
      if (c[0].id == 'R' && c[1].id == 'G' && c[2].id == 'B') return JpegColour::kRgb;
      return JpegColour::kYCbCr;
    case 4: return adobe_transform > 0 ? JpegColour::kYcck : JpegColour::kCmyk;
    default: return JpegColour::kOther;
  }
}

/// The parse in progress: where the walk is and what it has seen.
class Parser {
 public:
  Parser(const uint8_t* data, size_t size) : bytes_(data, size) {}

  JpegParse run() {
    pos_ = 2;
    while (!done_ && result_.error.empty()) step();
    if (!result_.error.empty()) {
      result_.ok = false;
      return result_;
    }
    if (!seen_frame_)
      return fail(result_.truncated ? "the stream ends before its frame header (SOF)"
                                    : "there is no frame header (SOF) before EOI");
    if (result_.header.scans == 0)
      return fail(result_.truncated ? "the stream ends before its first scan (SOS)"
                                    : "there is no scan (SOS) before EOI");
    JpegHeader& header = result_.header;
    header.subsampling = subsampling_of(header);
    header.colour = colour_of(header, jfif_, adobe_transform_);
    result_.ok = true;
    return result_;
  }

 private:
  JpegParse fail(const std::string& error) {
    result_.ok = false;
    result_.error = error;
    return result_;
  }
  void error(const std::string& message) { result_.error = message; }
  void end_early() {
    result_.truncated = true;
    done_ = true;
  }

  /// One marker (and its segment, or the scan it starts) from pos_.
  void step() {
    if (pos_ >= bytes_.size()) return end_early();
    if (bytes_.u8(pos_) != 0xFF) {
      return error(cat("expected a marker at byte ", pos_, " but found ", hex(bytes_.u8(pos_))));
    }
    while (pos_ < bytes_.size() && bytes_.u8(pos_) == 0xFF) ++pos_;  // fill bytes
    if (pos_ >= bytes_.size()) return end_early();
    const int marker = bytes_.u8(pos_);
    const size_t at = pos_ - 1;
    ++pos_;
    if (marker == 0xD9) {  // EOI
      done_ = true;
      return;
    }
    if (marker == 0xD8) return error(cat("a second SOI marker at byte ", at));
    if (marker == 0x00) return error(cat("a stuffed 0xFF00 outside a scan at byte ", at));
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) return;  // TEM, RSTn: no segment
    if (!bytes_.has(pos_, 2)) return end_early();
    const size_t length = bytes_.u16(pos_);
    if (length < 2) return error(cat("the ", hex(marker), " segment at byte ", at, " has length ", length));
    if (!bytes_.has(pos_, length)) return end_early();
    const Span body = bytes_.sub(pos_ + 2, length - 2);
    pos_ += length;
    if (is_frame_marker(marker)) return frame(marker, body, at);
    switch (marker) {
      case 0xDA: return scan(body, at);
      case 0xDD:  // DRI
        if (body.size() != 2) return error(cat("the DRI segment at byte ", at, " has length ", length, ", not 4"));
        result_.header.restart_interval = body.u16(0) != 0;
        return;
      case 0xE0:
        if (body.starts_with(0, "JFIF\0", 5)) jfif_ = true;
        return;
      case 0xE1:
        if (!seen_exif_ && body.starts_with(0, "Exif\0\0", 6)) {
          seen_exif_ = true;
          result_.header.exif_orientation = exif_orientation(body);
        }
        return;
      case 0xEE:  // APP14: "Adobe", version (2), flags0 (2), flags1 (2), transform (1)
        if (body.size() >= 12 && body.starts_with(0, "Adobe", 5)) adobe_transform_ = body.u8(11);
        return;
      default: return;  // tables, comments, other APPn, DNL, …
    }
  }

  void frame(int marker, const Span& body, size_t at) {
    if (seen_frame_) return error(cat("a second frame header (", hex(marker), ") at byte ", at));
    seen_frame_ = true;
    JpegHeader& header = result_.header;
    header.sof_marker = marker;
    header.coding = coding_of(marker);
    if (body.size() < 6) return error(cat("the frame header at byte ", at, " is ", body.size() + 2, " bytes long"));
    header.precision = body.u8(0);
    header.height = static_cast<int>(body.u16(1));
    header.width = static_cast<int>(body.u16(3));
    const int components = body.u8(5);
    if (components < 1 || components > kJpegMaxComponents) {
      return error(cat("the frame has ", components, " components; at most ", kJpegMaxComponents, " are supported"));
    }
    if (body.size() != 6 + 3 * static_cast<size_t>(components)) {
      return error(cat("the frame header at byte ", at, " is ", body.size() + 2, " bytes long, not ",
                       8 + 3 * components, " for ", components, " components"));
    }
    header.components = components;
    for (int i = 0; i < components; ++i) {
      JpegComponent& component = header.component[i];
      component.id = body.u8(6 + 3 * i);
      component.h = body.u8(7 + 3 * i) >> 4;
      component.v = body.u8(7 + 3 * i) & 15;
      if (component.h < 1 || component.h > 4 || component.v < 1 || component.v > 4) {
        return error(
            cat("component ", i, " has sampling factors ", component.h, "x", component.v, " (each must be 1 to 4)"));
      }
    }
    if (header.width == 0) return error("the frame's width is 0");
    if (header.height == 0) return error("the frame's height is 0 (set by a later DNL marker), which is not supported");
  }

  void scan(const Span& body, size_t at) {
    if (!seen_frame_) return error(cat("a scan (SOS) at byte ", at, " before the frame header"));
    const size_t count = body.size() < 1 ? 0 : body.u8(0);
    if (count < 1 || count > static_cast<size_t>(result_.header.components) || body.size() != 1 + 2 * count + 3) {
      return error(cat("the scan header at byte ", at, " is malformed"));
    }
    JpegHeader& header = result_.header;
    if (header.scans == 0) header.first_scan_interleaved = count == static_cast<size_t>(header.components);
    ++header.scans;
    skip_entropy_coded_data();
  }

  /// Moves pos_ to the 0xFF of the first marker after a scan's entropy-coded data (stuffed 0xFF00 and RSTn
  /// belong to the data), or to the end of the input.
  void skip_entropy_coded_data() {
    const size_t size = bytes_.size();
    while (pos_ < size) {
      if (bytes_.u8(pos_) != 0xFF) {
        ++pos_;
        continue;
      }
      if (pos_ + 1 >= size) {
        pos_ = size;
        return;
      }
      const int next = bytes_.u8(pos_ + 1);
      if (next == 0x00 || (next >= 0xD0 && next <= 0xD7)) {
        pos_ += 2;
      } else if (next == 0xFF) {
        ++pos_;  // a fill byte before a marker
      } else {
        return;
      }
    }
  }

  Span bytes_;
  size_t pos_ = 0;
  bool done_ = false;
  bool seen_frame_ = false;
  bool seen_exif_ = false;
  bool jfif_ = false;
  int adobe_transform_ = -1;
  JpegParse result_;
};

}  // namespace

const char* jpeg_coding_name(JpegCoding coding) {
  switch (coding) {
    case JpegCoding::kBaseline: return "baseline";
    case JpegCoding::kExtendedSequential: return "extended sequential";
    case JpegCoding::kProgressive: return "progressive";
    case JpegCoding::kLossless: return "lossless";
    case JpegCoding::kHierarchical: return "hierarchical";
    case JpegCoding::kArithmetic: return "arithmetic-coded";
  }
  return "unknown";
}

const char* chroma_subsampling_name(ChromaSubsampling subsampling) {
  switch (subsampling) {
    case ChromaSubsampling::k444: return "4:4:4";
    case ChromaSubsampling::k422: return "4:2:2";
    case ChromaSubsampling::k420: return "4:2:0";
    case ChromaSubsampling::k440: return "4:4:0";
    case ChromaSubsampling::k411: return "4:1:1";
    case ChromaSubsampling::k410: return "4:1:0";
    case ChromaSubsampling::kGray: return "grey";
    case ChromaSubsampling::kUnknown: return "unknown";
  }
  return "unknown";
}

const char* jpeg_colour_name(JpegColour colour) {
  switch (colour) {
    case JpegColour::kGrey: return "grey";
    case JpegColour::kYCbCr: return "YCbCr";
    case JpegColour::kRgb: return "RGB";
    case JpegColour::kCmyk: return "CMYK";
    case JpegColour::kYcck: return "YCCK";
    case JpegColour::kOther: return "other";
  }
  return "other";
}

bool looks_like_jpeg(const uint8_t* data, size_t size) {
  return data != nullptr && size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

JpegParse parse_jpeg(const uint8_t* data, size_t size) {
  if (!looks_like_jpeg(data, size)) {
    JpegParse result;
    result.error = "not a JPEG (it does not start with the SOI marker 0xFFD8)";
    return result;
  }
  return Parser(data, size).run();
}

}  // namespace cuda
}  // namespace resnet
