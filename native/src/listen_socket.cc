#include "listen_socket.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "fd_guard.h"

namespace resnet {
namespace {

/// The errno's name as Node's errors spell it (EADDRINUSE), for the errors a listen meets.
const char* errno_name(int error) {
  switch (error) {
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case ENOMEM: return "ENOMEM";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    default: return "E?";
  }
}

/// "127.0.0.1:8000", "[::1]:8000".
std::string endpoint(const std::string& host, uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos && host.front() != '[';
  return v6 ? cat("[", host, "]:", port) : cat(host, ":", port);
}

/// Why `call` (socket, setsockopt, bind, listen) failed with `error`, and what to change.
Status system_error(const char* call, int error, const ListenRequest& request) {
  const std::string where = endpoint(request.host, request.port);
  const std::string head =
      cat("cannot listen on ", where, ": ", call, " failed with ", errno_name(error), " (", std::strerror(error), ")");
  switch (error) {
    case EADDRINUSE:
      return Status(Code::kInvalidArgument,
                    cat(head, ": another process (or a socket without SO_REUSEPORT) already listens on port ",
                        request.port, "; stop it or choose another port (--port, 0 for any free one)"));
    case EADDRNOTAVAIL:
      return Status(Code::kInvalidArgument, cat(head, ": ", request.host,
                                                " is not an address of this machine; listen on one of its addresses, "
                                                "or on 0.0.0.0 / :: for all of them"));
    case EACCES:
    case EPERM:
      return Status(Code::kInvalidArgument,
                    cat(head,
                        ": ports below 1024 need privileges (root or CAP_NET_BIND_SERVICE); choose a port "
                        "from 1024 up"));
    case EAFNOSUPPORT:
      return Status(Code::kInvalidArgument,
                    cat(head, ": this machine has no ", request.host.find(':') != std::string::npos ? "IPv6" : "IPv4",
                        " networking; listen on an address of the other family"));
    case EMFILE:
    case ENFILE:
      return Status(Code::kBackend, cat(head, ": too many open files; raise the open-file limit (ulimit -n)"));
    default: return Status(Code::kBackend, head);
  }
}

Status set_flag(int fd, int level, int option, int value, const char* name, const ListenRequest& request) {
  if (::setsockopt(fd, level, option, &value, sizeof value) != 0) return system_error(name, errno, request);
  return Status();
}

}  // namespace

Result<ListeningSocket> open_listening_socket(const ListenRequest& request) {
  std::string host = request.host;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  RESNET_CHECK(!host.empty() && host.size() <= 255 && host.find('\0') == std::string::npos, Code::kInvalidArgument,
               cat("Expected an IPv4 or IPv6 address for host but received \"", host.substr(0, 64), "\""));
  RESNET_CHECK(request.backlog >= 1, Code::kInvalidArgument,
               cat("Expected a backlog of at least 1 but received ", request.backlog));

  // Dotted quads only for IPv4 (getaddrinfo would also take inet_aton's "1.2.3"); IPv6 through getaddrinfo,
  // which knows scope ids ("fe80::1%eth0").
  in_addr ipv4{};
  const bool is_ipv4 = ::inet_pton(AF_INET, host.c_str(), &ipv4) == 1;
  RESNET_CHECK(is_ipv4 || host.find(':') != std::string::npos, Code::kInvalidArgument,
               cat("Expected an IPv4 or IPv6 address for host but received \"", host.substr(0, 64),
                   "\": resolve host names before opening the socket"));
  addrinfo hints{};
  hints.ai_family = is_ipv4 ? AF_INET : AF_INET6;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(request.port);
  const int resolved = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  if (resolved != 0 || found == nullptr) {
    if (found != nullptr) ::freeaddrinfo(found);
    return Status(Code::kInvalidArgument,
                  cat("Expected an IPv4 or IPv6 address for host but received \"", host.substr(0, 64), "\" (",
                      ::gai_strerror(resolved), "): resolve host names before opening the socket"));
  }
  const int family = found->ai_family;
  sockaddr_storage address{};
  const socklen_t address_length = found->ai_addrlen;
  std::memcpy(&address, found->ai_addr, found->ai_addrlen);
  ::freeaddrinfo(found);

  FdGuard fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return system_error("socket", errno, request);
  // As libuv: a restarted server binds at once, without waiting out the old connections' TIME_WAIT.
  RESNET_RETURN_IF_ERROR(set_flag(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)", request));
  if (request.reuse_port) {
#ifdef SO_REUSEPORT
    RESNET_RETURN_IF_ERROR(set_flag(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1, "setsockopt(SO_REUSEPORT)", request));
#else
    return Status(Code::kUnsupported,
                  "this system has no SO_REUSEPORT: run the server with one HTTP thread (--http-threads 1)");
#endif
  }
  // As Node's listen() without ipv6Only: `::` takes IPv4 connections too.
  if (family == AF_INET6) {
    RESNET_RETURN_IF_ERROR(set_flag(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 0, "setsockopt(IPV6_V6ONLY)", request));
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), address_length) != 0) {
    return system_error("bind", errno, request);
  }
  if (::listen(fd.get(), request.backlog) != 0) return system_error("listen", errno, request);

  sockaddr_storage bound{};
  socklen_t bound_length = sizeof bound;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &bound_length) != 0) {
    return system_error("getsockname", errno, request);
  }
  const uint16_t port = family == AF_INET6 ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
                                           : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  return ListeningSocket{fd.release(), port, family};
}

void close_listening_socket(int fd) {
  if (fd >= 0) ::close(fd);
}

}  // namespace resnet
