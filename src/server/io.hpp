#pragma once
// Shared by the two halves of a connection (connection.cpp, exchange.cpp).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>

namespace gatehouse::server {

// Completion token: errors come back as values, never as exceptions.
inline constexpr auto use_nothrow = boost::asio::as_tuple(boost::asio::use_awaitable);

// The smallest read worth a syscall.
inline constexpr std::size_t min_read = 4096;

}  // namespace gatehouse::server
