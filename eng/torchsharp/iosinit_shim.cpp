// Defines std::ios_base_library_init(), the one symbol TorchSharp 0.107's libLibTorchSharp.so
// needs from GLIBCXX_3.4.32 (GCC 13's iostream initialiser). Older libstdc++ (Debian 12's GCC 12)
// initialises iostreams in its own static constructor, so a no-op is all that is needed here.
// Built and linked only where the system libstdc++ lacks GLIBCXX_3.4.32: see glibcxx_fix.py.
#include <ios>

namespace std {
__attribute__((visibility("default"))) void ios_base_library_init() {}
}
