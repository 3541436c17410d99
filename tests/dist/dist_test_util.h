// Helpers for multi-process tests on loopback: a free TCP port, and running one function per
// rank on threads of this process, each joining the same c10d group (Gloo supports that).
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <exception>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "aft/dist/process_group.h"

namespace aft::testing {

inline int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

inline dist::LaunchEnv loopback_env(int rank, int world, int port) {
  dist::LaunchEnv env;
  env.rank = rank;
  env.world = world;
  env.local_rank = rank;
  env.master_addr = "127.0.0.1";
  env.master_port = port;
  env.launcher = "env";
  return env;
}

// Runs body(group) on `world` threads, one group member each; rethrows the first failure.
inline void run_ranks(int world, double timeout, const std::function<void(dist::Group&)>& body) {
  const int port = free_port();
  std::vector<std::exception_ptr> errors(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        dist::DistOptions options;
        options.timeout = timeout;
        auto group = dist::Group::create(loopback_env(r, world, port), options);
        body(*group);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace aft::testing
