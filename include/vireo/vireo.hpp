// SPDX-License-Identifier: Apache-2.0
// Umbrella header: the freestanding core (no OS headers, no heap, no exceptions).
// testing/ (mock drivers, which allocate) and OS-facing headers are included separately.
#pragma once

#include "vireo/version.hpp"

#include "vireo/core/atomic_le.hpp"
#include "vireo/core/bytes.hpp"
#include "vireo/core/config.hpp"
#include "vireo/core/endian.hpp"
#include "vireo/core/features.hpp"
#include "vireo/core/guest_memory.hpp"
#include "vireo/core/memory/faulty_memory.hpp"
#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/core/memory/region_table.hpp"
#include "vireo/core/result.hpp"

#include "vireo/ring/any_device_queue.hpp"
#include "vireo/ring/any_driver_queue.hpp"
#include "vireo/ring/driver_types.hpp"
#include "vireo/ring/event_idx.hpp"
#include "vireo/ring/layout.hpp"
#include "vireo/ring/notification_data.hpp"
#include "vireo/ring/packed_device.hpp"
#include "vireo/ring/packed_driver.hpp"
#include "vireo/ring/packed_wire.hpp"
#include "vireo/ring/queue_api.hpp"
#include "vireo/ring/queue_config.hpp"
#include "vireo/ring/queue_layout.hpp"
#include "vireo/ring/split_device.hpp"
#include "vireo/ring/split_driver.hpp"
#include "vireo/ring/split_wire.hpp"
#include "vireo/ring/used_entry.hpp"

#include "vireo/chain/cursor.hpp"
#include "vireo/chain/descriptor_chain.hpp"
#include "vireo/chain/packed_walker.hpp"
#include "vireo/chain/segment.hpp"
#include "vireo/chain/split_walker.hpp"

#include "vireo/gpio/codec.hpp"
#include "vireo/gpio/names.hpp"
#include "vireo/gpio/wire.hpp"

#include "vireo/i2c/address.hpp"
#include "vireo/i2c/codec.hpp"
#include "vireo/i2c/wire.hpp"
