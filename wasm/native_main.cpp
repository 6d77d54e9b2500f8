// plm-native: the same engine and ABI built natively, driven by a script.
//
// Why: the wasm variants are checked against native llama.cpp by running the
// very same action script through both, so any difference is the build's.
// Input (stdin): one action per line, "<name> <json request>".
// Output (stdout): one JSON reply per line, in order.
#include "plm_abi.h"

#include <cstdio>
#include <iostream>
#include <string>

int main() {
    std::string line;
    while (std::getline(std::cin, line)) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        const size_t sp = line.find(' ');
        const std::string name = line.substr(0, sp);
        const std::string req  = sp == std::string::npos ? "{}" : line.substr(sp + 1);
        char * reply = plm_action(name.c_str(), req.c_str());
        std::cout << (reply ? reply : "null") << std::endl;
        plm_result_free(reply);
    }
    return 0;
}
