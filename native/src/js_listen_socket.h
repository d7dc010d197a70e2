// The JS side of listen_socket.h: openListeningSocket(host, port, reusePort, backlog) → { fd, port, family }
// and closeListeningSocket(fd), for the HTTP threads of `resnet serve` (lib/runtime/listen-socket.ts).
#pragma once

#include <napi.h>

namespace resnet {

/// openListeningSocket(host: string, port: number, reusePort: boolean, backlog: number) → { fd, port, family }
/// with family 4 or 6. Throws a coded Error (listen_socket.h says which). JS thread.
Napi::Value open_listening_socket_js(const Napi::CallbackInfo& info);

/// closeListeningSocket(fd): closes a descriptor that is a socket; ERR_INVALID_ARGUMENT for anything else
/// (so a wrong number cannot close stdin or a file). JS thread.
Napi::Value close_listening_socket_js(const Napi::CallbackInfo& info);

}  // namespace resnet
