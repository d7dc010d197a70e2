// info()'s `imageDecoder`: which image decoder the server gets here and why (image_decoder_choice.h), as a JS
// object { decoder, hardwareEngines, reason, nvjpegPath?, nvjpegVersion? }. Probed once per process on first
// use (it loads nvJPEG and, on a GPU, makes one nvJPEG handle), so info() reads it lazily.
#pragma once

#include <napi.h>

namespace resnet {
namespace cuda {

/// The cached choice as a JS object; a failing probe throws a coded Error (js_image_testing.cc).
Napi::Value image_decoder_info_to_js(Napi::Env env);

}  // namespace cuda
}  // namespace resnet
