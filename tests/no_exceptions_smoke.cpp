// SPDX-License-Identifier: Apache-2.0
// Built only by the no-exceptions preset (-fno-exceptions -fno-rtti): the umbrella header
// must compile and link into a program without exceptions or RTTI.
#if __has_include(<vireo/vireo.hpp>)
#include <vireo/vireo.hpp>
#endif
#include <vireo/version.hpp>

#if defined(__cpp_exceptions) || defined(__cpp_rtti)
#error "this smoke test must be built with -fno-exceptions -fno-rtti"
#endif

int main() { return vireo::version_major == VIREO_VERSION_MAJOR ? 0 : 1; }
