// SPDX-License-Identifier: Apache-2.0
// Greybus manifests (greybus digest §5): zero-copy framing and descriptor iteration
// (manifest/frame.hpp), validation in Linux-kernel or spec-strict mode with the resulting
// bundles and cports in a bounded view (manifest/validate.hpp), wire facts and names
// (manifest/wire.hpp). Building: manifest_builder.hpp; the .mnfs text form: mnfs.hpp.
#pragma once

#include "vireo/greybus/manifest/frame.hpp"     // IWYU pragma: export
#include "vireo/greybus/manifest/validate.hpp"  // IWYU pragma: export
#include "vireo/greybus/manifest/wire.hpp"      // IWYU pragma: export
