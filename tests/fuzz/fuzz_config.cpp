// The config loader on YAML text: every input is either a config or a list of errors with a
// position, never a crash. Inputs that name files or network services are skipped: the
// fuzzer must not create or read files (access_log outputs, PEM and JWKS files) or resolve
// names (Redis, JWKS URLs) on the machine it runs on.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "gatehouse/config/loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    for (const char* risky : {"access_log", "file", "redis", "jwks", "pem", "output"}) {
        if (text.find(risky) != std::string::npos) return 0;
    }
    auto result = gatehouse::config::load_config_text(text, "fuzz.yaml",
                                                      [](const std::string& name) -> std::optional<std::string> {
                                                          if (name == "UNSET") return std::nullopt;
                                                          return std::string("value-of-") + name;
                                                      });
    if (!result.config && result.errors.empty()) std::abort();
    for (const auto& e : result.errors) {
        if (e.file != "fuzz.yaml" || e.message.empty()) std::abort();
    }
    return 0;
}
