// The single translation unit that compiles Asio and Beast (separate compilation keeps the
// build fast: every other file only sees declarations).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
