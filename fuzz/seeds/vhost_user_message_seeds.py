# SPDX-License-Identifier: Apache-2.0
# Writes the seeds of fuzz/corpus/vhost_user_message/ (input format: fuzz/vhost_user_message.cpp
# and docs/vhost-user.md, "Fuzzing"). Not part of the build; run it after changing that format:
#   python3 fuzz/seeds/vhost_user_message_seeds.py fuzz/corpus/vhost_user_message
# One seed per request of both channels, one per reply to a front-end request, QEMU 7.2 message
# sequences, and the malformed cases of the vhost-user digest §10. Integers are written
# little-endian: vhost-user is host order, and the fuzzer runs on little-endian hosts.
import os, struct, sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)

# Option byte bits (fuzz/vhost_user_message.cpp: options_from).
XEN, LOG_SHMFD, POSTCOPY, STRICT_REM, TWO_QUEUES, SMALL_CAP, SMALL_QSIZE = 1, 2, 4, 8, 16, 32, 64
# Record control bits.
BACKEND, REPLY, SHORT = 0x10, 0x20, 0x40
V, REPLY_FLAGS, NEED = 0x1, 0x5, 0x9

def u8(v): return struct.pack('<B', v)
def u16(v): return struct.pack('<H', v)
def u32(v): return struct.pack('<I', v)
def u64(v): return struct.pack('<Q', v & (2**64 - 1))
def region(gpa, size, uaddr, off=0): return u64(gpa) + u64(size) + u64(uaddr) + u64(off)
UUID = bytes(range(1, 17))

def msg(code, payload=b'', flags=V, fds=0, ctl=0, size=None):
    """One record: ctl byte, header, payload."""
    return u8((fds & 0xF) | ctl) + u32(code) + u32(flags) + u32(len(payload) if size is None else size) + payload

seeds = {}
def seed(name, *records, options=0):
    seeds[name] = u8(options) + b''.join(records)

RA = region(0, 0x80000000, 0x7f1200000000)
RB = region(0x100000000, 0x40000000, 0x7f2200000000, 0x1000)

# (code, name, payload, fds) for every front-end request (1-44).
FRONT = [
    (1, 'get_features', b'', 0),
    (2, 'set_features', u64(0x140000000), 0),
    (3, 'set_owner', b'', 0),
    (4, 'reset_owner', b'', 0),
    (5, 'set_mem_table', u32(2) + u32(0) + RA + RB, 2),
    (6, 'set_log_base', u64(0x1000) + u64(0), 0),
    (7, 'set_log_fd', b'', 1),
    (8, 'set_vring_num', u32(0) + u32(256), 0),
    (9, 'set_vring_addr', u32(1) + u32(1) + u64(0x7f1200001000) + u64(0x7f1200003000) + u64(0x7f1200002000) + u64(0x4000), 0),
    (10, 'set_vring_base', u32(0) + u32(5), 0),
    (11, 'get_vring_base', u32(1) + u32(0), 0),
    (12, 'set_vring_kick', u64(1), 1),
    (13, 'set_vring_call', u64(0x100), 0),
    (14, 'set_vring_err', u64(0), 1),
    (15, 'get_protocol_features', b'', 0),
    (16, 'set_protocol_features', u64(0x8209), 0),
    (17, 'get_queue_num', b'', 0),
    (18, 'set_vring_enable', u32(0) + u32(1), 0),
    (19, 'send_rarp', bytes([0x52, 0x54, 0, 0x12, 0x34, 0x56, 0, 0]), 0),
    (20, 'net_set_mtu', u64(1500), 0),
    (21, 'set_backend_req_fd', b'', 1),
    (22, 'iotlb_msg', u64(0x1000) + u64(0x1000) + u64(0x7f0000000000) + u8(3) + u8(2) + bytes(6), 0),
    (23, 'set_vring_endian', u32(0) + u32(1), 0),
    (24, 'get_config', u32(0) + u32(8) + u32(0) + bytes(8), 0),
    (25, 'set_config', u32(4) + u32(2) + u32(0) + b'\xab\xcd', 0),
    (26, 'create_crypto_session', u64(2**64 - 1) + b'\x5a' * 24, 0),
    (27, 'close_crypto_session', u64(7), 0),
    (28, 'postcopy_advise', b'', 0),
    (29, 'postcopy_listen', b'', 0),
    (30, 'postcopy_end', b'', 0),
    (31, 'get_inflight_fd', u64(0) + u64(0) + u16(1) + u16(4) + bytes(4), 0),
    (32, 'set_inflight_fd', u64(0x2000) + u64(0) + u16(1) + u16(4) + bytes(4), 1),
    (33, 'gpu_set_socket', b'', 1),
    (34, 'reset_device', b'', 0),
    (35, 'vring_kick', u32(0) + u32(0), 0),
    (36, 'get_max_mem_slots', b'', 0),
    (37, 'add_mem_reg', u64(0) + RB, 1),
    (38, 'rem_mem_reg', u64(0) + RB, 0),
    (39, 'set_status', u64(0x0f), 0),
    (40, 'get_status', b'', 0),
    (41, 'get_shared_object', UUID, 0),
    (42, 'set_device_state_fd', u32(0) + u32(0), 1),
    (43, 'check_device_state', b'', 0),
    (44, 'get_shmem_config', b'', 0),
]
BACK = [
    (1, 'iotlb_msg', u64(0x1000) + u64(0) + u64(0) + u8(1) + u8(1) + bytes(6), 0),
    (2, 'config_change_msg', b'', 0),
    (3, 'vring_host_notifier_msg', u64(1) + u64(4096) + u64(0), 1),
    (4, 'vring_call', u32(0) + u32(0), 0),
    (5, 'vring_err', u32(1) + u32(0), 0),
    (6, 'shared_object_add', UUID, 0),
    (7, 'shared_object_remove', UUID, 0),
    (8, 'shared_object_lookup', UUID, 0),
    (9, 'shmem_map', u8(0) + bytes(7) + u64(0) + u64(0x1000) + u64(0x1000) + u64(1), 1),
    (10, 'shmem_unmap', u8(0) + bytes(7) + u64(0) + u64(0x1000) + u64(0x1000) + u64(0), 0),
]
# Replies to front-end requests with a layout of their own; every other reply is a u64.
REPLIES = {
    11: (u32(1) + u32(0x10), 0),
    24: (u32(0) + u32(8) + u32(0) + u16(8) + bytes(6), 0),
    26: (u64(1) + b'\x5a' * 24, 0),
    28: (b'', 1),
    31: (u64(0x1000) + u64(0) + u16(1) + u16(4) + bytes(4), 1),
    41: (b'', 1),
    42: (u64(0x100), 0),
    44: (u32(2) + u32(0) + u64(0x100000) + u64(0x200000) + bytes(254 * 8), 0),
}

for code, name, payload, fds in FRONT:
    seed(f'req_main_{code:02d}_{name}', msg(code, payload, V, fds), msg(code, payload, NEED, fds))
    rp, rfds = REPLIES.get(code, (u64(0), 0))
    seed(f'rep_main_{code:02d}_{name}', msg(code, rp, REPLY_FLAGS, rfds, REPLY))
for code, name, payload, fds in BACK:
    seed(f'req_backend_{code:02d}_{name}', msg(code, payload, V, fds, BACKEND),
         msg(code, payload, NEED, fds, BACKEND))
    seed(f'rep_backend_{code:02d}_{name}', msg(code, u64(0), REPLY_FLAGS, 1 if code == 8 else 0, BACKEND | REPLY))

# Negotiated layouts.
seed('xen_mmap_tables', msg(5, u32(1) + u32(0) + RA + u32(1) + u32(3), V, 1),
     msg(37, u64(0) + RB + u32(2) + u32(0), V, 1), options=XEN)
seed('log_shmfd_base', msg(6, u64(0x1000) + u64(0), V, 1), msg(6, u64(0x1000) + u64(0), V, 0), options=LOG_SHMFD)
seed('postcopy_tables', msg(5, u32(1) + u32(0) + RA, V, 1), msg(5, u32(1) + u32(0) + RA, REPLY_FLAGS, 0, REPLY),
     msg(5, u64(0), V, 0), options=POSTCOPY)
seed('rem_mem_reg_fd', msg(38, u64(0) + RB, V, 1), msg(38, u64(0) + RB, V, 1), options=0)
seed('rem_mem_reg_fd_strict', msg(38, u64(0) + RB, V, 1), options=STRICT_REM)

# QEMU 7.2 vhost-user-gpio: init, start, stop (digest §7.1-7.3), with the back-end's replies.
def reply(code, payload, fds=0): return msg(code, payload, REPLY_FLAGS, fds, REPLY)
gpio = [
    msg(1), reply(1, u64(0x140000001)), msg(15), reply(15, u64(0x10209)), msg(16, u64(0x10209)),
    msg(3), msg(1), reply(1, u64(0x140000001)),
    msg(13, u64(0), V, 1), msg(14, u64(0), V, 1), msg(13, u64(1), V, 1), msg(14, u64(1), V, 1),
    msg(24, u32(0) + u32(8) + u32(0) + bytes(8)), reply(24, u32(0) + u32(8) + u32(0) + u16(8) + bytes(6)),
    msg(2, u64(0x140000001)), msg(40), reply(40, u64(0x3)), msg(39, u64(0xb)),
    msg(5, u32(1) + u32(0) + RA, V, 1),
]
for q in (0, 1):
    gpio += [msg(8, u32(q) + u32(256)), msg(10, u32(q) + u32(0)),
             msg(9, u32(q) + u32(0) + u64(0x7f1200000000 + q * 0x10000) + u64(0x7f1200002000 + q * 0x10000) + u64(0x7f1200001000 + q * 0x10000) + u64(0)),
             msg(12, u64(q), V, 1)]
gpio += [msg(40), reply(40, u64(0xb)), msg(39, u64(0xf)), msg(13, u64(0), V, 1), msg(13, u64(1), V, 1),
         msg(18, u32(0) + u32(1)), msg(18, u32(1) + u32(1)),
         msg(39, u64(0)), msg(11, u32(0) + u32(0)), reply(11, u32(0) + u32(17)), msg(11, u32(1) + u32(0)), reply(11, u32(1) + u32(0))]
seed('qemu72_gpio_session', *gpio)
# QEMU 7.2 vhost-user-i2c with REPLY_ACK and CONFIGURE_MEM_SLOTS: acks for NEED_REPLY messages.
i2c = [msg(1), reply(1, u64(0x140000001)), msg(15), reply(15, u64(0x8029)), msg(16, u64(0x8029)),
       msg(36), reply(36, u64(32)), msg(21, b'', NEED, 1), reply(21, u64(0)), msg(3),
       msg(2, u64(0x140000001)), msg(37, u64(0) + RB, NEED, 1), reply(37, u64(0)),
       msg(38, u64(0) + RB, NEED), reply(38, u64(0)),
       msg(8, u32(0) + u32(4)), msg(10, u32(0) + u32(0)), msg(12, u64(0), V, 1), msg(18, u32(0) + u32(1)),
       msg(18, u32(0) + u32(0)), msg(11, u32(0) + u32(0)), reply(11, u32(0) + u32(3))]
seed('qemu72_i2c_session', *i2c)

# Malformed cases (digest §10), each as one record or a few.
bad = {
    'bad_01_header_truncated': [u8(0) + u32(1) + u32(1)],
    'bad_02_payload_short': [msg(2, u64(1), ctl=SHORT)],
    'bad_03_size_max': [msg(1, b'', size=0xFFFFFFFF)],
    'bad_03_size_cap_plus_one': [msg(26, bytes(4097))],
    'bad_03_size_cap': [msg(26, bytes(4096))],
    'bad_04_versions': [msg(1, flags=0), msg(1, flags=2), msg(1, flags=3), msg(1, flags=0x5), msg(1, flags=0x11)],
    'bad_05_unknown_codes': [msg(0), msg(45, fds=1), msg(0x7FFFFFFF, u64(0), fds=2), msg(11, ctl=BACKEND)],
    'bad_06_fds': [msg(1, fds=1), msg(5, u32(8) + u32(0) + RA * 8, fds=9), msg(2, ctl=BACKEND, fds=1), msg(3, fds=15)],
    'bad_12_vring_index': [msg(8, u32(2) + u32(4)), msg(12, u64(2), fds=1), msg(12, u64(256), fds=1), msg(12, u64(255), fds=1)],
    'bad_13_kick_call_err': [msg(12, u64(0)), msg(13, u64(0x100), fds=1), msg(14, u64(0), fds=2), msg(12, u64(0x200), fds=1)],
    'bad_14_vring_num': [msg(8, u32(0) + u32(n)) for n in (0, 1, 3, 32768, 32769, 512)],
    'bad_15_vring_addr': [msg(9, u32(0) + u32(f) + u64(d) + u64(u) + u64(a) + u64(0)) for f, d, u, a in
                          ((0, 0x1008, 0, 0), (0, 0, 2, 0), (0, 0, 0, 1), (2, 0, 0, 0))],
    'bad_17_vring_enable': [msg(18, u32(0) + u32(2)), msg(23, u32(0) + u32(2)), msg(11, u32(0) + u32(1))],
    'bad_19_mem_table': [msg(5, u32(0) + u32(0)), msg(5, u32(9) + u32(0) + RA * 9, fds=8), msg(5, u32(2) + u32(0) + RA * 2, fds=3),
                         msg(5, u32(2) + u32(0) + RA * 2, fds=1), msg(5, u32(1) + u32(1) + RA, fds=1), msg(5, u32(2) + u32(0) + RA * 3, fds=2)],
    'bad_20_regions': [msg(5, u32(1) + u32(0) + region(0, 0, 0), fds=1), msg(5, u32(1) + u32(0) + region(2**64 - 0x1000, 0x1000, 0), fds=1),
                       msg(5, u32(1) + u32(0) + region(0, 0x1000, 2**64 - 0x1000), fds=1),
                       msg(5, u32(1) + u32(0) + region(0, 0x1000, 0, 2**64 - 0x1000), fds=1)],
    'bad_22_mem_reg': [msg(37, u64(0) + RB), msg(37, u64(0) + RB, fds=2), msg(37, RB, fds=1), msg(38, u64(0) + RB, fds=2)],
    'bad_24_get_config': [msg(24, u32(0) + u32(0) + u32(0)), msg(24, u32(0) + u32(257) + u32(0) + bytes(257)),
                          msg(24, u32(0xFFFFFFFF) + u32(8) + u32(0) + bytes(8)), msg(24, u32(0) + u32(8) + u32(0) + bytes(7))],
    'bad_25_set_config_flags': [msg(25, u32(0) + u32(2) + u32(2) + bytes(2))],
    'bad_26_log_base': [msg(6, u64(0) + u64(0), fds=1), msg(6, u64(0x1000) + u64(2**64 - 0x100), fds=1), msg(6, u64(0x1000) + u64(0))],
    'bad_27_inflight': [msg(31, u64(0) + u64(0) + u16(0) + u16(4) + bytes(4)), msg(31, u64(0) + u64(0) + u16(1) + u16(0) + bytes(4)),
                        msg(32, u64(0) + u64(0) + u16(1) + u16(4) + bytes(4), fds=1)],
    'bad_28_iotlb': [msg(22, u64(0x1000) + u64(0x1000) + u64(0) + u8(4) + u8(2) + bytes(6)),
                     msg(22, u64(0x1000) + u64(0x1000) + u64(0) + u8(3) + u8(9) + bytes(6)),
                     msg(22, u64(0x1000) + u64(0) + u64(0) + u8(3) + u8(2) + bytes(6)),
                     msg(22, u64(2**64 - 1) + u64(2) + u64(0) + u8(3) + u8(2) + bytes(6))],
    'bad_29_backend_channel': [msg(2, flags=REPLY_FLAGS, ctl=BACKEND), msg(12, flags=NEED, ctl=BACKEND),
                               msg(2, ctl=BACKEND, fds=1), msg(1, bytes(5000), ctl=BACKEND)],
    'bad_replies': [msg(1, u64(0), flags=0xD, ctl=REPLY), msg(1, u64(0), flags=1, ctl=REPLY), msg(1, u32(0), flags=REPLY_FLAGS, ctl=REPLY),
                    msg(31, u64(0x1000) + u64(0) + u16(1) + u16(4) + bytes(4), flags=REPLY_FLAGS, ctl=REPLY),
                    msg(42, u64(1), flags=REPLY_FLAGS, fds=1, ctl=REPLY), msg(44, u32(9) + u32(0) + bytes(64), flags=REPLY_FLAGS, ctl=REPLY)],
}
for name, records in bad.items():
    seed(name, *records)
seed('bad_12_two_queues', msg(8, u32(2) + u32(4)), msg(9, u32(1) + u32(0) + bytes(32)), msg(13, u64(0x102)), options=TWO_QUEUES)
seed('small_limits', msg(26, bytes(513)), msg(8, u32(0) + u32(512)), msg(8, u32(0) + u32(256)), options=SMALL_CAP | SMALL_QSIZE)

for name, data in sorted(seeds.items()):
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
print(f'{len(seeds)} seeds written to {out}')
