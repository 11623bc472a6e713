// SPDX-License-Identifier: Apache-2.0
// The one doctest main of vireo_tests; the test cases live in tests/**/*_test.cpp.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
