// SPDX-License-Identifier: Apache-2.0
// Build-wide knobs: the namespace version tag, the precondition hook and branch hints.
#pragma once

/// Vireo's symbols live in an inline, versioned namespace so that two embedded copies of
/// different versions never share a mangled name in one binary.
#define VIREO_NAMESPACE_BEGIN namespace vireo { inline namespace v0 {
#define VIREO_NAMESPACE_END } }

#if defined(__GNUC__) || defined(__clang__)
#define VIREO_LIKELY(x) __builtin_expect(!!(x), 1)
#define VIREO_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define VIREO_ALWAYS_INLINE inline __attribute__((always_inline))
#define VIREO_NOINLINE __attribute__((noinline))
#else
#define VIREO_LIKELY(x) (x)
#define VIREO_UNLIKELY(x) (x)
#define VIREO_ALWAYS_INLINE inline
#define VIREO_NOINLINE
#endif

/// VIREO_ASSERT checks a *caller's* precondition (never guest input: guest input gets an errc).
/// Define VIREO_ASSERT before including Vireo to route failures to your own handler; the default
/// traps, which works without an OS, a heap or exceptions.
#ifndef VIREO_ASSERT
#if defined(__GNUC__) || defined(__clang__)
#define VIREO_ASSERT(cond) ((cond) ? static_cast<void>(0) : __builtin_trap())
#else
#include <cstdlib>
#define VIREO_ASSERT(cond) ((cond) ? static_cast<void>(0) : std::abort())
#endif
#endif
