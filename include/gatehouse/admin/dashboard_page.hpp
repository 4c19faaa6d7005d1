#pragma once
// The admin dashboard (GET / on the admin listener): one HTML file with its CSS and script,
// src/admin/dashboard.html, built into the binary. It reads GET /dashboard.json every 2 s.
#include <string_view>

namespace gatehouse::admin {

std::string_view dashboard_page();

}  // namespace gatehouse::admin
