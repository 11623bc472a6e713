// SPDX-License-Identifier: Apache-2.0
// The vhost-user front-end (the VMM side): everything in include/vireo/linux/vhost_user_frontend/
// and the memfd guest RAM it shares. OS-facing: not part of the umbrella header vireo/vireo.hpp.
#pragma once

#include "vireo/linux/memfd_guest_ram.hpp"
#include "vireo/linux/vhost_user_frontend/env.hpp"
#include "vireo/linux/vhost_user_frontend/frontend.hpp"
#include "vireo/linux/vhost_user_frontend/notifier.hpp"
#include "vireo/linux/vhost_user_frontend/options.hpp"
#include "vireo/linux/vhost_user_frontend/request_channel.hpp"
#include "vireo/linux/vhost_user_frontend/sys.hpp"
