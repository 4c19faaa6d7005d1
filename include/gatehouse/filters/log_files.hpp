#pragma once
// Log files written by filters (the access log), reopened on SIGUSR1 so that logrotate can
// move them away without copytruncate, as NGINX's USR1 does.
namespace gatehouse::filters {

// Closes and reopens every open access-log file at its configured path (any thread).
void reopen_log_files();

}  // namespace gatehouse::filters
