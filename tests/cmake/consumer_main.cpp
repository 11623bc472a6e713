// SPDX-License-Identifier: Apache-2.0
// A user's first program, shared by the add_subdirectory and find_package consumers.
#if __has_include(<vireo/vireo.hpp>)
#include <vireo/vireo.hpp>
#endif
#include <vireo/version.hpp>

int main() { return VIREO_VERSION_MAJOR == 0 && vireo::version_major == 0 ? 0 : 1; }
