// A TCP socket opened, bound and listening, as a descriptor: what `resnet serve --http-threads N` hands to
// each HTTP thread's `server.listen({ fd })`. Node 20 cannot set SO_REUSEPORT itself (Node ≥ 22.12 has
// `reusePort`), and the option only works when it is set before bind(): with it on every socket, several
// sockets bind one port and the kernel spreads incoming connections over them (Linux ≥ 3.9), so each
// thread accepts its own share without handing connections around.
//
// Like libuv's own listening sockets: SO_REUSEADDR set, IPv6 sockets dual-stack (IPV6_V6ONLY off, so `::`
// takes IPv4 too), close-on-exec. Only numeric addresses are taken (getaddrinfo with AI_NUMERICHOST never
// touches DNS); names are resolved by the caller. Plain POSIX C++, no Node-API: js_listen_socket.* wraps it.
#pragma once

#include <cstdint>
#include <string>

#include "status.h"

namespace resnet {

/// What to listen on.
struct ListenRequest {
  std::string host;         // an IPv4 or IPv6 address ("0.0.0.0", "::1", "[::1]", "fe80::1%eth0")
  uint16_t port = 0;        // 0: the kernel picks a free one
  bool reuse_port = false;  // SO_REUSEPORT before bind
  int backlog = 511;        // Node's default
};

/// An open listening socket. The descriptor is the caller's to close (or to give to a listener that owns it).
struct ListeningSocket {
  int fd = -1;
  uint16_t port = 0;  // the port bound (the kernel's choice when the request said 0)
  int family = 0;     // AF_INET or AF_INET6
};

/// Opens, binds and listens. kInvalidArgument for a host that is not a numeric address, an address in use
/// (EADDRINUSE), not on this machine (EADDRNOTAVAIL) or a privileged port (EACCES), each saying what to
/// change; kUnsupported where the system has no SO_REUSEPORT; kBackend for anything else (EMFILE, …). The
/// message names the errno (EADDRINUSE) so that it reads like Node's own listen errors.
Result<ListeningSocket> open_listening_socket(const ListenRequest& request);

/// Closes a descriptor from open_listening_socket that no listener took; ignores -1.
void close_listening_socket(int fd);

}  // namespace resnet
