// SPDX-License-Identifier: Apache-2.0
// Vireo's version, the only place it lives: the top-level CMakeLists.txt parses these macros.
#pragma once

#include "vireo/core/config.hpp"

#define VIREO_VERSION_MAJOR 0
#define VIREO_VERSION_MINOR 1
#define VIREO_VERSION_PATCH 0
#define VIREO_VERSION_STRING "0.1.0"

VIREO_NAMESPACE_BEGIN

inline constexpr int version_major = VIREO_VERSION_MAJOR;
inline constexpr int version_minor = VIREO_VERSION_MINOR;
inline constexpr int version_patch = VIREO_VERSION_PATCH;
inline constexpr char version_string[] = VIREO_VERSION_STRING;

VIREO_NAMESPACE_END
