#pragma once
// Process logging: spdlog to stderr, with the level from the config.
#include <string>

namespace gatehouse::observability {

// Installs the default logger; level is one of trace, debug, info, warn, error, critical, off.
void setup_logging(const std::string& level);

// Changes the level of the default logger (on reload).
void set_log_level(const std::string& level);

}  // namespace gatehouse::observability
