# SPDX-License-Identifier: Apache-2.0
# Writes the seeds of fuzz/corpus/vhost_user_backend/ (input format: fuzz/vhost_user_backend.cpp
# and docs/fuzzing.md, "vhost_user_backend input"). Not part of the build; run it after changing
# that format:
#   python3 fuzz/seeds/vhost_user_backend_seeds.py fuzz/corpus/vhost_user_backend
# The QEMU 7.2 init/start/stop sequences of the vhost-user digest §7.1-§7.3 for vhost-user-i2c and
# vhost-user-gpio (split and packed), vhost-user-blk's inflight region, the back-end channel,
# dirty logging for a migration, and malformed or out-of-order sessions. Integers are
# little-endian (vhost-user is host order; the fuzzer runs on little-endian hosts).
import os, struct, sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)

# Option byte (device_from): device kind, refuse starts, odd stop positions, the device logs its
# writes, an inflight allocator.
I2C, GPIO, GPIO_PACKED, QUAD, REFUSE_START, ODD_POS, LOGS, ALLOC = 0, 1, 2, 3, 4, 8, 16, 32
# Record control bits.
RAW, NEED, MAP_FAILS, DISCONNECT = 0x10, 0x20, 0x40, 0x80

(GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE, SET_LOG_BASE, SET_LOG_FD,
 SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL,
 SET_VRING_ERR, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM,
 SET_VRING_ENABLE) = range(1, 19)
SET_BACKEND_REQ_FD = 21
GET_CONFIG, SET_CONFIG = 24, 25
GET_INFLIGHT_FD, SET_INFLIGHT_FD = 31, 32
# Pseudo-operations of the template code byte (44-47): the back-end's own calls.
CONFIG_CHANGED, BACKEND_REQUEST, LOGGED_WRITE, STRAY_REPLY = 44, 45, 46, 47
GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG, SET_STATUS, GET_STATUS = 36, 37, 38, 39, 40

VERSION_1, INDIRECT, EVENT_IDX, PACKED, BIT30 = 1 << 32, 1 << 28, 1 << 29, 1 << 34, 1 << 30
LOG_ALL = 1 << 26
P_LOG_SHMFD, P_REPLY_ACK, P_BACKEND_REQ, P_CONFIG, P_INFLIGHT = 0x2, 0x8, 0x20, 0x200, 0x1000
NO_FD = 0x100

def u8(v): return struct.pack('<B', v & 0xFF)
def u16(v): return struct.pack('<H', v & 0xFFFF)
def u32(v): return struct.pack('<I', v & 0xFFFFFFFF)
def u64(v): return struct.pack('<Q', v & (2**64 - 1))

def t(code, args=b'', fds=0, ctl=0):
    """A template record: ctl, code byte, arguments (build_template)."""
    return u8((fds & 0xF) | ctl) + u8(code - 1) + args
def val(code, v, fds=0, ctl=0): return t(code, u32(v) + u32(v >> 32), fds, ctl)
def state(code, i, n, ctl=0): return t(code, u8(i) + u32(n), 0, ctl)
def addr(i, desc, used, avail, flags=0, ctl=0, log=0):
    """log: log_guest_addr >> 8."""
    return t(SET_VRING_ADDR, u8(i) + u8(flags) + u32(desc) + u32(used) + u32(avail) + u16(log),
             0, ctl)
def log_base(size, off, fds=1, ctl=0):
    return t(SET_LOG_BASE, u16(size) + u16(off), fds, ctl)
def inflight(code, nq, qs, mode, raw_size=0, off_pages=None, fds=0, ctl=0):
    """mode 0: mmap_size 0, 1: exactly what nq x qs need, 2: raw_size; off_pages: mmap_offset."""
    sel = mode | (0x80 if off_pages is not None else 0)
    args = u8(sel) + u8(nq) + u16(qs) + (u32(raw_size) if mode == 2 else b'') + \
        (u8(off_pages) if off_pages is not None else b'')
    return t(code, args, fds, ctl)
def op(code, args=b''):
    """A pseudo-operation (config_changed, back-end request, logged write, stray reply)."""
    return u8(0) + u8(code) + args
def config_changed(how): return op(CONFIG_CHANGED, u8(how))
def backend_request(code, how, payload):
    return op(BACKEND_REQUEST, u8(code - 1) + u8(how) + u8(len(payload)) + payload)
def logged_write(addr, shift, length): return op(LOGGED_WRITE, u32(addr) + u8(shift) + u16(length))
def stray_reply(data): return op(STRAY_REPLY, data[:20].ljust(20, b'\0'))
def region(gpa, size, user_off=0, off=0):
    """gpa, size, user offset and mmap offset in bytes, all multiples of 4 KiB."""
    return u16(gpa >> 12) + u8((size >> 12) - 1) + u16(user_off >> 12) + u8(off >> 12)
def mem_table(regions, ctl=0):
    return t(SET_MEM_TABLE, u8(len(regions)) + b''.join(regions), len(regions), ctl)
def config(code, off, data, flags=0, ctl=0):
    return t(code, u8(off) + u8(len(data)) + u8(flags) + data, 0, ctl)
def raw(code, flags, payload=b'', fds=0, size=None, ctl=0):
    return u8((fds & 0xF) | RAW | ctl) + u32(code) + u32(flags) + \
        u32(len(payload) if size is None else size) + payload
DISC = u8(DISCONNECT)

seeds = {}
def seed(name, options, *records):
    seeds[name] = u8(options) + b''.join(records)

RAM = 0x80000  # 512 KiB: the mapper's largest region

def qemu_init(queues, protocol):
    r = [t(GET_FEATURES), t(GET_PROTOCOL_FEATURES), val(SET_PROTOCOL_FEATURES, protocol),
         t(GET_QUEUE_NUM), t(GET_MAX_MEM_SLOTS)]
    if protocol & P_BACKEND_REQ:  # §7.1 step 6, NEED_REPLY with REPLY_ACK
        r.append(t(SET_BACKEND_REQ_FD, fds=1, ctl=NEED if protocol & P_REPLY_ACK else 0))
    r += [t(SET_OWNER), t(GET_FEATURES)]
    for i in range(queues):
        r += [val(SET_VRING_CALL, i, 1), val(SET_VRING_ERR, i, 1)]
    return r

def reg(code, gpa, size, user_off=0, off=0, fds=1, ctl=0):
    return t(code, region(gpa, size, user_off, off), fds, ctl)

def qemu_start(queues, acked, size, base):
    r = [val(SET_FEATURES, acked | BIT30), t(GET_STATUS), val(SET_STATUS, 8),
         reg(ADD_MEM_REG, 0, RAM, ctl=NEED)]
    for i in range(queues):
        ring = 0x10000 * (i + 1)
        r += [state(SET_VRING_NUM, i, size), state(SET_VRING_BASE, i, base),
              addr(i, ring, ring + 0x8000, ring + 0x4000), val(SET_VRING_KICK, i, 1)]
    return r

def driver_ok(): return [t(GET_STATUS), val(SET_STATUS, 0xF)]
def unmask(queues): return [val(SET_VRING_CALL, i, 1) for i in range(queues)]
def enable_all(queues): return [state(SET_VRING_ENABLE, i, 1) for i in range(queues)]

DEV = VERSION_1 | 1
I2C_PROTO, GPIO_PROTO = 0x18029, 0x18229  # what the session offers (QEMU 7.2 acks it all)

seed('qemu72_i2c_init_start_stop', I2C,
     *qemu_init(1, I2C_PROTO), *qemu_start(1, DEV, 4, 0), *enable_all(1), *driver_ok(),
     *unmask(1), val(SET_STATUS, 0), state(SET_VRING_ENABLE, 0, 0), state(GET_VRING_BASE, 0, 0),
     # restart from the returned base, then disconnect
     val(SET_FEATURES, DEV | BIT30), state(SET_VRING_NUM, 0, 4), state(SET_VRING_BASE, 0, 7),
     addr(0, 0x10000, 0x18000, 0x14000), val(SET_VRING_KICK, 0, 1), DISC)
seed('qemu72_gpio_init_start_stop', GPIO,
     *qemu_init(2, GPIO_PROTO), config(GET_CONFIG, 0, bytes(8)),
     *qemu_start(2, DEV, 256, 0), *driver_ok(), *unmask(2), *enable_all(2),
     val(SET_STATUS, 0), state(GET_VRING_BASE, 0, 0), state(GET_VRING_BASE, 1, 0), DISC)
seed('qemu72_gpio_packed', GPIO_PACKED,
     *qemu_init(2, GPIO_PROTO), *qemu_start(2, DEV | PACKED, 100, 0x80058003),
     state(GET_VRING_BASE, 0, 0), state(GET_VRING_BASE, 1, 0), DISC)
seed('quad_queues_need_reply', QUAD,
     *qemu_init(4, GPIO_PROTO), *[t(GET_FEATURES, ctl=NEED)],
     *qemu_start(4, DEV, 256, 3), *[state(GET_VRING_BASE, i, 0, NEED) for i in range(4)])
# Legacy memory: SET_MEM_TABLE without CONFIGURE_MEM_SLOTS, then a remap under started rings.
seed('set_mem_table_remap', GPIO,
     t(GET_FEATURES), val(SET_PROTOCOL_FEATURES, 0x9), t(SET_OWNER),
     val(SET_FEATURES, DEV | BIT30),
     mem_table([region(0, 0x40000), region(0x100000, 0x40000, 0x40000)], NEED),
     state(SET_VRING_NUM, 0, 64), state(SET_VRING_BASE, 0, 0), addr(0, 0x1000, 0x3000, 0x2000),
     val(SET_VRING_KICK, 0, 1),
     mem_table([region(0, 0x40000)]),                          # keeps the ring: accepted
     mem_table([region(0x200000, 0x40000)]),                   # moves it: refused
     mem_table([region(0, 0x40000), region(0x20000, 0x40000, 0x100000)]),  # overlap
     mem_table([region(0, 0x40000)], MAP_FAILS), t(RESET_OWNER), DISC)
# Without bit 30 every ring is enabled at once; kick with the no-fd bit (polling).
seed('no_bit30_polled_kick', I2C,
     t(SET_OWNER), val(SET_FEATURES, DEV), val(SET_PROTOCOL_FEATURES, 0),
     mem_table([region(0, 0x10000)]), state(SET_VRING_NUM, 0, 16), state(SET_VRING_BASE, 0, 0),
     addr(0, 0x1000, 0x3000, 0x2000), val(SET_VRING_KICK, NO_FD),
     val(SET_VRING_CALL, 0, 1), val(SET_VRING_CALL, NO_FD), state(GET_VRING_BASE, 0, 0),
     val(SET_VRING_KICK, 0, 1), DISC)
# Malformed and out-of-order requests.
seed('malformed_mix', GPIO,
     state(SET_VRING_NUM, 0, 8),                               # before SET_OWNER
     t(SET_OWNER), addr(0, 0x1000, 0x3000, 0x2000),            # before the memory table
     val(SET_FEATURES, 1 << 63), val(SET_PROTOCOL_FEATURES, 1 << 5),
     val(SET_PROTOCOL_FEATURES, 0x18209), val(SET_FEATURES, DEV | BIT30),
     state(SET_VRING_NUM, 9, 8), state(SET_VRING_NUM, 0, 100),  # bad index, not a power of two
     reg(ADD_MEM_REG, 0, 0x100000),                             # larger than the mapper allows
     reg(ADD_MEM_REG, 0, 0x10000, ctl=MAP_FAILS | NEED),
     reg(ADD_MEM_REG, 0, 0x10000), reg(ADD_MEM_REG, 0x8000, 0x10000, 0x20000),  # overlap
     reg(REM_MEM_REG, 0, 0x20000, fds=0, ctl=NEED),             # no such region
     mem_table([region(0, 0x10000)]),                           # not with CONFIGURE_MEM_SLOTS
     addr(0, 0x1000, 0x3000, 0x2000, flags=1), addr(1, 0x1000, 0xfffff000, 0x2000),
     config(SET_CONFIG, 0, bytes(4)), config(SET_CONFIG, 0, bytes(4), 1),
     config(GET_CONFIG, 4, bytes(8), 0, NEED), config(SET_CONFIG, 6, b'\x01\x02\x03\x04'),
     val(SET_VRING_KICK, 0, 9), val(SET_VRING_ERR, 7, 1), val(SET_VRING_CALL, 0, 0),
     raw(GET_FEATURES, 0x5), raw(GET_FEATURES, 0x1, u64(0)), raw(SET_OWNER, 0x1, fds=1),
     raw(99, 0x1), raw(SET_FEATURES, 0x9, u32(1)), raw(SET_VRING_CALL, 0x1, u64(0), fds=2),
     t(28), t(34, ctl=NEED), t(44), DISC, state(GET_VRING_BASE, 0, 0), DISC)
# A started ring whose region is removed (refused), then a reset; the device refuses starts.
seed('rem_under_started_ring', I2C,
     *qemu_init(1, I2C_PROTO), *qemu_start(1, DEV, 8, 0),
     reg(REM_MEM_REG, 0, RAM, fds=0, ctl=NEED), state(SET_VRING_NUM, 0, 16),
     t(RESET_OWNER), t(SET_OWNER), DISC)
seed('device_refuses_start', I2C | REFUSE_START,
     *qemu_init(1, I2C_PROTO), *qemu_start(1, DEV, 8, 0), val(SET_VRING_KICK, 0, 1, NEED))
seed('odd_positions_restart', GPIO_PACKED | ODD_POS,
     *qemu_init(2, GPIO_PROTO), *qemu_start(2, DEV | PACKED, 100, 0),
     state(GET_VRING_BASE, 0, 0), val(SET_VRING_KICK, 0, 1), state(GET_VRING_BASE, 0, 0))
seed('split_base_too_large', I2C,
     # the base is set before the features, so the start (at KICK) refuses it
     *qemu_init(1, I2C_PROTO), reg(ADD_MEM_REG, 0, RAM), state(SET_VRING_NUM, 0, 8),
     state(SET_VRING_BASE, 0, 0x10000), addr(0, 0x1000, 0x3000, 0x2000),
     val(SET_FEATURES, DEV | BIT30), val(SET_VRING_KICK, 0, 1, NEED),
     val(SET_FEATURES, DEV | BIT30 | PACKED))

# vhost-user-blk's start with an inflight region (GET the first time, SET always), a restart of
# the vring over it, and the requests a started ring refuses.
INFL_PROTO = GPIO_PROTO | P_INFLIGHT
seed('inflight_get_set_restart', GPIO | ALLOC,
     *qemu_init(2, INFL_PROTO), inflight(GET_INFLIGHT_FD, 2, 256, 0),
     inflight(SET_INFLIGHT_FD, 2, 256, 1, fds=1, ctl=NEED), *qemu_start(2, DEV, 256, 0),
     inflight(GET_INFLIGHT_FD, 2, 256, 0, ctl=NEED),             # refused while started
     state(GET_VRING_BASE, 0, 0), state(GET_VRING_BASE, 1, 0),
     inflight(SET_INFLIGHT_FD, 2, 256, 1, off_pages=1, fds=1),  # a restarted back-end's SET
     val(SET_VRING_KICK, 0, 1), t(RESET_OWNER), DISC)
seed('inflight_malformed', QUAD | ALLOC,
     *qemu_init(4, GPIO_PROTO | P_INFLIGHT | 0x1),
     inflight(GET_INFLIGHT_FD, 9, 64, 0, ctl=NEED),              # more queues than the device
     inflight(GET_INFLIGHT_FD, 4, 1024, 0),                       # above the maximum size
     inflight(GET_INFLIGHT_FD, 0, 64, 0),                         # zero queues: codec
     inflight(GET_INFLIGHT_FD, 4, 64, 0, ctl=MAP_FAILS),          # the allocator fails
     inflight(SET_INFLIGHT_FD, 4, 64, 2, raw_size=100, fds=1, ctl=NEED),  # too small
     inflight(SET_INFLIGHT_FD, 4, 64, 1, fds=0),                  # no fd
     inflight(SET_INFLIGHT_FD, 4, 64, 1, fds=2),                  # two fds
     inflight(SET_INFLIGHT_FD, 4, 64, 1, fds=1, ctl=MAP_FAILS),
     inflight(GET_INFLIGHT_FD, 4, 64, 0), inflight(GET_INFLIGHT_FD, 1, 8, 0), DISC)
seed('inflight_without_allocator', GPIO,
     *qemu_init(2, GPIO_PROTO), val(SET_PROTOCOL_FEATURES, GPIO_PROTO | P_INFLIGHT),
     inflight(GET_INFLIGHT_FD, 2, 256, 0), inflight(SET_INFLIGHT_FD, 2, 256, 1, fds=1))
# The back-end channel: config changes with every kind of answer, other back-end requests,
# stray replies, a replaced channel, and the suspended state.
IOTLB_MISS = u64(0x1000) + u64(0) + u64(0) + u8(3) + u8(1) + bytes(6)
seed('backend_channel', GPIO,
     *qemu_init(2, GPIO_PROTO), config_changed(0),               # suspended: refused
     *qemu_start(2, DEV, 256, 0), config_changed(0), config_changed(1), config_changed(2),
     config_changed(3), backend_request(1, 0, IOTLB_MISS), backend_request(3, 0, bytes(24)),
     backend_request(2, 1, b''), stray_reply(u32(2) + u32(5) + u32(8) + u64(0)),
     t(SET_BACKEND_REQ_FD, fds=1, ctl=NEED), config_changed(0), t(RESET_OWNER),
     config_changed(0), DISC)
seed('backend_channel_no_reply_ack', GPIO,
     *qemu_init(2, P_BACKEND_REQ | P_CONFIG), *qemu_start(2, DEV, 256, 0), config_changed(0),
     config_changed(0), t(SET_BACKEND_REQ_FD, fds=0), t(SET_BACKEND_REQ_FD, fds=2), DISC)
# A migration: the log, LOG_ALL and F_LOG switched on under running rings, device writes, a log
# too small, then everything off again.
LOG_PROTO = GPIO_PROTO | P_LOG_SHMFD
seed('dirty_log_migration', GPIO | LOGS,
     *qemu_init(2, LOG_PROTO), *qemu_start(2, DEV, 256, 0), log_base(0x100, 0),
     val(SET_FEATURES, DEV | BIT30 | LOG_ALL, ctl=NEED),
     addr(0, 0x10000, 0x18000, 0x14000, flags=1, ctl=NEED, log=0x180),
     addr(1, 0x20000, 0x28000, 0x24000, flags=1, ctl=NEED, log=0xFFFF),  # beyond the log
     logged_write(0x1000, 0, 16), logged_write(0x7FFF0, 0, 32), logged_write(0xFFFFF, 8, 1),
     log_base(1, 0),                                                        # too small now
     log_base(0x100, 2, ctl=MAP_FAILS), logged_write(0x40000, 0, 300),
     addr(0, 0x10000, 0x18000, 0x14000, flags=0),
     val(SET_FEATURES, DEV | BIT30, ctl=NEED), logged_write(0x1000, 0, 16),
     val(SET_FEATURES, DEV | LOG_ALL, ctl=NEED),                           # other bits: refused
     log_base(0x100, 0, fds=0), DISC)
seed('dirty_log_not_offered', GPIO,
     *qemu_init(2, GPIO_PROTO), val(SET_FEATURES, DEV | LOG_ALL, ctl=NEED),
     val(SET_PROTOCOL_FEATURES, GPIO_PROTO | P_LOG_SHMFD), log_base(0x10, 0, fds=0, ctl=NEED),
     log_base(0x10, 0, fds=1), addr(0, 0x1000, 0x3000, 0x2000, flags=1, ctl=NEED))

for name, data in sorted(seeds.items()):
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
print(f'{len(seeds)} seeds written to {out}')
