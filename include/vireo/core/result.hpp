// SPDX-License-Identifier: Apache-2.0
// errc (every failure Vireo can report, banded by layer), error_message() and result<T>.
#pragma once

#include <cstdint>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

#include "vireo/core/config.hpp"

VIREO_NAMESPACE_BEGIN

/// Every failure Vireo reports. Bands: 1xx core/memory, 2xx ring, 3xx chain and cursors;
/// later layers (gpio 4xx, i2c 5xx, vhost-user 6xx, greybus 7xx, host back-ends 8xx) add their
/// own bands.
enum class errc : std::uint16_t {
  // core / guest memory
  out_of_bounds = 100,       ///< range not inside guest memory
  address_overflow = 101,    ///< address + length wraps past 2^64
  not_contiguous = 102,      ///< range spans regions: cannot be mapped zero-copy
  misaligned = 103,          ///< ring index access at an address not aligned to its size
  access_denied = 104,       ///< region does not allow this access (e.g. write to read-only)
  injected_fault = 105,      ///< faulty_memory was told to fail this access
  invalid_argument = 106,    ///< a caller-supplied value is out of range
  no_space = 107,            ///< output buffer (writer) is full
  end_of_data = 108,         ///< input buffer (reader) has fewer bytes than asked
  region_overlap = 109,      ///< region_table: new region overlaps an existing one
  table_full = 110,          ///< region_table: no free slot
  not_found = 111,           ///< region_table: no region at that address
  feature_not_offered = 112, ///< driver accepted a feature the device did not offer
  feature_dependency = 113,  ///< a feature is set without the feature it depends on

  // ring
  bad_queue_size = 200,      ///< size zero, too large, or not a power of two (split)
  ring_misaligned = 201,     ///< ring area violates its alignment (virtio 1.3 §2.7.1)
  ring_not_mapped = 202,     ///< ring area outside guest memory or not in one region
  queue_not_ready = 203,     ///< queue used before configure() or after reset()
  queue_broken = 204,        ///< an earlier fatal ring error; reset the queue
  avail_idx_jump = 205,      ///< avail.idx moved more than the queue size past last_avail
  head_out_of_range = 206,   ///< avail ring names a descriptor index >= queue size
  used_idx_jump = 207,       ///< used.idx moved more than the entries in flight
  used_id_out_of_range = 208,///< used ring names an id >= queue size
  used_id_not_in_flight = 209,///< used ring names an id the driver has not made available
  used_len_too_large = 210,  ///< used length exceeds the chain's writable bytes (strict mode)
  ring_full = 211,           ///< driver: not enough free descriptors for the chain
  empty_chain = 212,         ///< driver: a chain needs at least one buffer
  in_order_violation = 213,  ///< IN_ORDER negotiated but buffers completed out of order
  feature_not_negotiated = 214, ///< operation needs a feature this queue did not negotiate
  notification_data_invalid = 215, ///< NOTIFICATION_DATA value names a bad queue or offset

  // chain / cursors
  desc_index_out_of_range = 300, ///< next (or indirect next) >= table length
  chain_too_long = 301,      ///< hop budget exhausted: a loop or a chain longer than allowed
  indirect_in_indirect = 302,///< INDIRECT flag inside an indirect table (§2.7.5.3.1)
  indirect_with_next = 303,  ///< INDIRECT and NEXT on one descriptor (§2.7.5.3.1)
  indirect_not_negotiated = 304, ///< INDIRECT used without VIRTIO_F_INDIRECT_DESC
  indirect_table_size = 305, ///< indirect table length 0 or not a multiple of 16
  writable_before_readable = 306, ///< a readable descriptor after a writable one (§2.7.4.2)
  total_len_overflow = 307,  ///< chain total length reaches 2^32 (§2.7.5.2)
  desc_addr_overflow = 308,  ///< descriptor addr + len wraps past 2^64
  segment_limit = 309,       ///< more non-empty descriptors than the chain can hold
  indirect_in_chain = 310,   ///< packed: INDIRECT descriptor inside a NEXT-linked list (§2.8.7)
  desc_not_available = 311,  ///< packed: a list runs into a slot the driver has not made available

  // gpio (4xx)
  gpio_request_size = 400,   ///< gpio request buffer is not exactly its message's size
  gpio_unknown_type = 401,   ///< gpio request type is not a VIRTIO_GPIO_MSG_* value
  gpio_line_out_of_range = 402, ///< gpio line number is not below ngpio
  gpio_bad_direction = 403,  ///< SET_DIRECTION value is not NONE, OUT or IN
  gpio_bad_value = 404,      ///< SET_VALUE value is not 0 or 1
  gpio_bad_irq_type = 405,   ///< SET_IRQ_TYPE value is not a VIRTIO_GPIO_IRQ_TYPE_* value
  gpio_reserved_nonzero = 406, ///< a field the spec fixes at 0 is not 0
  gpio_irq_not_negotiated = 407, ///< interrupt message or eventq use without VIRTIO_GPIO_F_IRQ
  gpio_names_unsupported = 408, ///< GET_LINE_NAMES while gpio_names_size is 0
  gpio_response_too_short = 409, ///< writable buffer cannot hold the whole response
  gpio_response_size = 410,  ///< used length differs from the response's size
  gpio_status_err = 411,     ///< the device answered VIRTIO_GPIO_STATUS_ERR
  gpio_bad_status = 412,     ///< status byte is not a defined status value
  gpio_bad_response_value = 413, ///< response value out of range for its message
  gpio_no_lines = 414,       ///< ngpio is 0
  gpio_names_truncated = 415, ///< names blob ends before ngpio terminated names
  gpio_names_trailing = 416, ///< names blob has bytes after the last line's name
  gpio_name_invalid = 417,   ///< line name is not 7-bit ASCII or holds a NUL
  gpio_name_duplicate = 418, ///< two lines share a non-empty name
  gpio_names_too_large = 419, ///< more than 65535 names, or a blob of 2^32 bytes or more
  gpio_too_many_lines = 420, ///< the host chip has more lines than the device model holds
  gpio_irq_on_output = 421,  ///< interrupt message for a line configured as output (§5.18.6.8)
  gpio_line_irq_enabled = 422, ///< a line whose interrupt is enabled cannot change direction
  gpio_names_changed = 423,  ///< the chip's line names no longer match gpio_names_size
  gpio_line_fault = 424,     ///< the host GPIO chip failed an operation on the line
  gpio_line_busy = 425, ///< a request for this gpio line is still in flight
  gpio_timeout = 426, ///< a synchronous gpio call gave up waiting for the device
  gpio_irq_not_enabled = 427, ///< unmask of a line whose interrupt is not enabled (§5.18.7.2)
  gpio_irq_unmasked = 428, ///< the line's eventq pair is already queued (§5.18.7.2: one per line)
  gpio_lines_exceed_driver = 429, ///< the device has more lines than the front-end holds

  // i2c (5xx)
  i2c_header_too_short = 500, ///< fewer than 8 device-readable bytes: no virtio_i2c_out_hdr
  i2c_no_status = 501,       ///< no device-writable byte for virtio_i2c_in_hdr
  i2c_reserved_flags = 502,  ///< flags bits 2-31 set (virtio §5.16.6.1: reserved as zero)
  i2c_read_buffer_readable = 503, ///< M_RD set, but device-readable bytes follow the header
  i2c_write_buffer_writable = 504, ///< M_RD clear, but more than the status is device-writable
  i2c_zero_length_not_negotiated = 505, ///< zero-length request without ZERO_LENGTH_REQUEST
  i2c_buffer_too_long = 506, ///< buf is longer than the device's limit
  i2c_address_invalid = 507, ///< addr matches neither row of the §5.16.6.1 address table
  i2c_address_reserved = 508, ///< a reserved 7-bit address (I2C-bus UM10204 table 4)
  i2c_address_out_of_range = 509, ///< a 7-bit address above 0x7F or a 10-bit one above 0x3FF
  i2c_feature_required = 510, ///< VIRTIO_I2C_F_ZERO_LENGTH_REQUEST not offered or not accepted
  i2c_bad_status = 511,      ///< status byte is neither VIRTIO_I2C_MSG_OK nor VIRTIO_I2C_MSG_ERR
  i2c_status_not_written = 512, ///< used length does not cover the status byte
  i2c_read_incomplete = 513, ///< OK for a read request before its whole buf was written
  i2c_message_failed = 514, ///< the device answered VIRTIO_I2C_MSG_ERR (a NACK or a bus error)
  i2c_transfer_too_large = 515, ///< more messages or bytes than a front-end transfer slot holds
  i2c_no_free_slot = 516, ///< every transfer slot of the front-end is in flight
  i2c_timeout = 517, ///< a synchronous i2c call gave up waiting for the device
  i2c_bounce_exhausted = 518, ///< a group's split or unmapped bufs overflow the bounce area
  i2c_group_too_long = 519, ///< a FAIL_NEXT group has more requests than one host transfer carries
  i2c_transfer_incomplete = 520, ///< the host bus completed fewer messages than asked (NACK)
  i2c_address_in_use = 521, ///< a simulated target is already attached at this address
  i2c_bus_full = 522, ///< the simulated bus has no room for another target

  // vhost-user (6xx)
  vhost_header_truncated = 600, ///< fewer than 12 bytes where a message header must be
  vhost_payload_too_large = 601, ///< header size above the configured payload cap (§1.2, rule B3)
  vhost_bad_version = 602, ///< flags bits 0-1 are not version 1 (rule B2)
  vhost_reserved_flags = 603, ///< flags bits 4-31 set (rule B2)
  vhost_frame_length = 604, ///< the buffer is not exactly 12 + header.size bytes
  vhost_reply_flag_on_request = 605, ///< REPLY set on a request (rule B2)
  vhost_bad_reply_flags = 606, ///< reply flags are not exactly 0x5 (§1.1)
  vhost_reply_mismatch = 607, ///< a reply names another request than the one awaited (rule F5)
  vhost_unknown_request = 608, ///< request code not defined on this channel (rule B5)
  vhost_payload_size = 609, ///< payload size wrong for the request type (rule B4)
  vhost_missing_fd = 610, ///< fewer fds than the message requires (rule B6)
  vhost_unexpected_fd = 611, ///< more fds than the message takes (rule B6)
  vhost_reserved_nonzero = 612, ///< a padding field or reserved bit that must be 0 is not
  vhost_region_count = 613, ///< memory table with 0 or more than 8 regions
  vhost_zero_size = 614, ///< a size or count the spec needs non-zero is 0
  vhost_range_overflow = 615, ///< start + size of an address range wraps past 2^64
  vhost_vring_index = 616, ///< vring index at or above the number of queues (rule B14)
  vhost_bad_value = 617, ///< a field holds a value outside its defined set
  vhost_config_range = 618, ///< config offset + size beyond the 256-byte config space
  vhost_reply_not_expected = 619, ///< a reply to a message that gets none (rule B8)
  vhost_not_owner = 620, ///< a session request before SET_OWNER (back-end session)
  vhost_out_of_order = 621, ///< a request the session state does not allow yet (or any more)
  vhost_not_negotiated = 622, ///< a request gated by a protocol feature that was not acked
  vhost_inflight_invalid = 623, ///< inflight region too small or inconsistent with the queue (§6.4)
  vhost_no_backend_channel = 624, ///< no back-end request channel (BACKEND_REQ, SET_BACKEND_REQ_FD)
  vhost_backend_request_failed = 625, ///< the front-end answered a back-end request with non-zero
  vhost_log_range = 626, ///< a dirty-log write beyond the log's size (rule B22)

  // greybus (7xx)
  greybus_short_message = 700, ///< fewer than the 8 bytes of an operation message header
  greybus_size_below_header = 701, ///< header size field below 8 (the header counts itself, §1)
  greybus_incomplete_message = 702, ///< header size field above the bytes received (§1)
  greybus_trailing_bytes = 703, ///< bytes after header.size (strict mode; Linux ignores them)
  greybus_response_id_zero = 704, ///< a response with operation id 0 (only requests may be unidirectional)
  greybus_request_result_nonzero = 705, ///< a request with a non-zero result byte (strict mode)
  greybus_unknown_operation = 706, ///< operation type not defined for the protocol (0x7f included)
  greybus_payload_too_short = 707, ///< payload shorter than the operation's layout (Linux -EMSGSIZE)
  greybus_payload_too_long = 708, ///< payload longer than the operation's layout (Linux -EMSGSIZE)
  greybus_not_a_request = 709, ///< a request was expected but the response bit is set, or the reverse
  greybus_no_response = 710, ///< a response to a unidirectional operation (it never has one)
  greybus_count_overrun = 711, ///< an op/transfer count whose descriptors overrun the payload
  greybus_data_length = 712, ///< data bytes differ from what the length fields declare
  greybus_empty_data = 713, ///< a data length of 0 where the protocol needs at least 1
  greybus_error_response = 714, ///< the response carries a non-zero result: its payload is void
  greybus_index_out_of_range = 715, ///< a line/instance/chip-select index beyond the reported count
  greybus_message_too_large = 716, ///< a message would exceed 65535 bytes (the size field)
  greybus_manifest_too_short = 717, ///< manifest shorter than its 4-byte header (§5.1)
  greybus_manifest_size_mismatch = 718, ///< manifest header size differs from the buffer length (Linux: must be equal)
  greybus_manifest_version = 719, ///< manifest major version newer than 0 (§5.4)
  greybus_manifest_trailing_bytes = 720, ///< 1 to 3 bytes after the last descriptor: too few for a descriptor header
  greybus_manifest_descriptor_overrun = 721, ///< descriptor size beyond the bytes left in the manifest
  greybus_manifest_descriptor_type = 722, ///< descriptor type 0 (invalid) or 5..255 (reserved)
  greybus_manifest_descriptor_too_small = 723, ///< descriptor smaller than its type needs (8; string 6 + length, padded to 4)
  greybus_manifest_interface_count = 724, ///< not exactly one interface descriptor
  greybus_manifest_string_missing = 725, ///< the interface names a string id no string descriptor has
  greybus_manifest_string_reused = 726, ///< one string referenced twice (spec: at most once; Linux consumes it on first use)
  greybus_manifest_control_class = 727, ///< a bundle of class Control (Linux: non-zero bundles; spec: any)
  greybus_manifest_bundle_invalid_id = 728, ///< bundle id 0xff (BUNDLE_ID_NONE)
  greybus_manifest_bundle_duplicate = 729, ///< a bundle id used twice
  greybus_manifest_no_bundles = 730, ///< no bundle survives validation (Linux: at least one)
  greybus_manifest_size_alignment = 731, ///< descriptor size not a multiple of 4 (strict mode)
  greybus_manifest_string_id_zero = 732, ///< string descriptor with id 0 (strict mode)
  greybus_manifest_string_duplicate = 733, ///< two string descriptors with one id (strict mode)
  greybus_manifest_bundle_empty = 734, ///< a bundle without cport (strict mode)
  greybus_manifest_cport_control = 735, ///< cport descriptor with id 0 (strict mode: the control cport is implicit)
  greybus_manifest_cport_id_range = 736, ///< cport id above 4095 (strict mode)
  greybus_manifest_cport_orphan = 737, ///< cport of a bundle that does not exist (strict mode)
  greybus_manifest_cport_duplicate = 738, ///< a cport id used twice in the interface (strict mode)
  greybus_manifest_capacity = 739, ///< more bundles or cports than the manifest view holds
  greybus_manifest_string_too_long = 740, ///< string longer than 255 bytes (u8 length)
  greybus_manifest_too_large = 741, ///< manifest would exceed 65535 bytes (le16 size)
  greybus_mnfs_syntax = 742, ///< mnfs line that is no section, option or comment; bad UTF-8
  greybus_mnfs_unknown_section = 743, ///< mnfs section that names no known descriptor
  greybus_mnfs_duplicate = 744, ///< mnfs section or key given twice (configparser strict)
  greybus_mnfs_missing_key = 745, ///< mnfs section lacks a required key
  greybus_mnfs_bad_number = 746, ///< mnfs number or id that is no integer or out of range
  greybus_mnfs_duplicate_id = 747, ///< two mnfs descriptors of one kind with the same id
  greybus_mnfs_bad_reference = 748, ///< mnfs reference to a missing string or bundle, or a string used twice
  greybus_mnfs_bad_header = 749, ///< mnfs manifest-header or interface missing, or version not 0.1
  greybus_mnfs_control_mismatch = 750, ///< mnfs bundle 0 not of class 0 or cport 0 not of protocol 0
  greybus_mnfs_unsupported = 751, ///< mnfs construct the front-end does not take ([DEFAULT], %(name)s)
  greybus_connection_not_ready = 752, ///< connection state forbids it (Linux -ENOTCONN; out: enabled_tx/enabled, in: enabled)
  greybus_too_many_operations = 753, ///< every slot of the operation tracker holds an operation in flight
  greybus_unexpected_response = 754, ///< a response whose id matches no request in flight (never sent, completed, timed out or cancelled)
  greybus_response_type_mismatch = 755, ///< a response whose id matches a request in flight but whose type does not (Linux matches by id only)
  greybus_frame_too_short = 756, ///< greybus-virtio frame shorter than its transport header plus a message header
  greybus_frame_too_large = 757, ///< greybus-virtio frame longer than 4 + max_message_size
  greybus_frame_direction = 758, ///< greybus-virtio ap_to_module chain with writable bytes, or module_to_ap buffer with readable ones
  greybus_frame_buffer_too_small = 759, ///< greybus-virtio module_to_ap buffer too small for the frame to send
  greybus_cport_out_of_range = 760, ///< greybus-virtio CPort id not below the device's cport_count
  greybus_no_free_frame = 761, ///< every frame buffer of the greybus-virtio AP driver is in flight
  greybus_bad_config = 762, ///< greybus-virtio config: max_message_size below 8 or above the driver's, or cport_count 0
  greybus_timeout = 763, ///< a synchronous greybus operation got no response before its deadline
  greybus_protocol_mismatch = 764, ///< the CPort is not in the manifest or carries another protocol than the client's
  greybus_version_unsupported = 765, ///< the module answered a newer Control protocol version than offered (Linux -ENOTSUPP)
  greybus_cport_unknown = 766, ///< a message for a CPort the module's manifest does not list (dropped: no connection exists)
  greybus_cport_in_use = 767, ///< a CPort that already has a responder attached

  // host back-ends (8xx)
  host_no_device = 800,      ///< host device node or adapter does not exist (ENOENT, ENODEV, ENXIO)
  host_permission_denied = 801, ///< the host refused access (EACCES, EPERM)
  host_busy = 802,           ///< a host driver or another consumer holds the resource (EBUSY)
  host_not_supported = 803,  ///< the host cannot do this (ENOTTY, EOPNOTSUPP, missing capability)
  host_rejected = 804,       ///< the host kernel rejected the request as invalid (EINVAL)
  host_io_error = 805,       ///< a host system call failed (EIO, ETIMEDOUT and other errnos)
  host_closed = 806,         ///< the back-end was moved from: it owns no descriptor
  host_name_too_long = 807,  ///< a path or line name longer than the back-end can hold
  host_i2c_target_not_allowed = 808, ///< an i2c target outside the back-end's address allow-list
  host_i2c_too_many_messages = 809, ///< more messages than one I2C_RDWR carries (42)
  host_i2c_no_ack = 810,     ///< the i2c target did not acknowledge (ENXIO, EREMOTEIO)
  host_gpio_line_not_found = 811, ///< no line of the host chip has the exported name
  host_gpio_line_name_ambiguous = 812, ///< several lines of the host chip have the exported name
  host_gpio_line_out_of_range = 813, ///< an exported offset is not below the chip's line count
  host_gpio_line_duplicate = 814, ///< two exported lines are the same host line
  host_gpio_too_many_lines = 815, ///< more exported lines than the back-end holds
  host_gpio_line_released = 816, ///< the host line is not requested (direction none)
  host_gpio_line_not_output = 817, ///< a value set on a host line that is not an output
  host_gpio_edge_on_output = 818, ///< edge detection on an output line (kernel: inputs only)
  host_disconnected = 819,   ///< the peer closed the connection between messages (EOF, EPIPE, ECONNRESET)
  host_truncated = 820,      ///< the connection ended inside a message (vhost-user §1.1 framing)
  host_too_many_fds = 821,   ///< more descriptors than one message may carry (vhost-user §1.3)
  host_control_truncated = 822, ///< recvmsg set MSG_CTRUNC: descriptors were lost (vhost-user §1.3)
  host_no_listener = 823,    ///< nothing listens on the socket path (ENOENT, ECONNREFUSED)
  host_address_in_use = 824, ///< the socket path is taken: a live listener, or not a socket
  host_timeout = 825,        ///< the peer did not answer in time (vhost-user reply, notifier)
  host_request_failed = 826, ///< the vhost-user back-end answered a request with a failure status
};

/// A short, stable, human-readable description of `e` (never empty).
[[nodiscard]] constexpr std::string_view error_message(errc e) noexcept {
  switch (e) {
    case errc::out_of_bounds: return "range lies outside guest memory";
    case errc::address_overflow: return "address plus length overflows 64 bits";
    case errc::not_contiguous: return "range spans more than one memory region";
    case errc::misaligned: return "ring index access is misaligned";
    case errc::access_denied: return "memory region does not allow this access";
    case errc::injected_fault: return "injected memory fault";
    case errc::invalid_argument: return "invalid argument";
    case errc::no_space: return "no space left in the output buffer";
    case errc::end_of_data: return "input buffer ended early";
    case errc::region_overlap: return "memory region overlaps an existing region";
    case errc::table_full: return "memory region table is full";
    case errc::not_found: return "no memory region at that address";
    case errc::feature_not_offered: return "feature accepted but not offered";
    case errc::feature_dependency: return "feature set without the feature it depends on";
    case errc::bad_queue_size: return "invalid queue size";
    case errc::ring_misaligned: return "ring area is misaligned";
    case errc::ring_not_mapped: return "ring area is not inside one memory region";
    case errc::queue_not_ready: return "queue is not configured";
    case errc::queue_broken: return "queue is broken by an earlier ring error; reset it";
    case errc::avail_idx_jump: return "available index moved by more than the queue size";
    case errc::head_out_of_range: return "available ring names a descriptor out of range";
    case errc::used_idx_jump: return "used index moved by more than the buffers in flight";
    case errc::used_id_out_of_range: return "used ring names an id out of range";
    case errc::used_id_not_in_flight: return "used ring names an id that is not in flight";
    case errc::used_len_too_large: return "used length exceeds the writable bytes";
    case errc::ring_full: return "not enough free descriptors";
    case errc::empty_chain: return "a chain needs at least one buffer";
    case errc::in_order_violation: return "buffers completed out of order under IN_ORDER";
    case errc::feature_not_negotiated: return "feature not negotiated on this queue";
    case errc::notification_data_invalid: return "notification data names a bad queue or offset";
    case errc::desc_index_out_of_range: return "descriptor next index out of range";
    case errc::chain_too_long: return "descriptor chain loops or exceeds its length limit";
    case errc::indirect_in_indirect: return "indirect descriptor inside an indirect table";
    case errc::indirect_with_next: return "descriptor has both INDIRECT and NEXT";
    case errc::indirect_not_negotiated: return "indirect descriptor without INDIRECT_DESC";
    case errc::indirect_table_size: return "indirect table length is zero or not a multiple of 16";
    case errc::writable_before_readable: return "readable descriptor after a writable one";
    case errc::total_len_overflow: return "descriptor chain length reaches 2^32 bytes";
    case errc::desc_addr_overflow: return "descriptor address plus length overflows 64 bits";
    case errc::segment_limit: return "descriptor chain has more segments than the device accepts";
    case errc::indirect_in_chain: return "indirect descriptor inside a descriptor list";
    case errc::desc_not_available: return "descriptor list runs into a slot that is not available";
    // gpio (4xx)
    case errc::gpio_request_size: return "gpio request buffer has the wrong size";
    case errc::gpio_unknown_type: return "unknown gpio message type";
    case errc::gpio_line_out_of_range: return "gpio line number is not below ngpio";
    case errc::gpio_bad_direction: return "invalid gpio direction";
    case errc::gpio_bad_value: return "gpio line value is not 0 or 1";
    case errc::gpio_bad_irq_type: return "invalid gpio interrupt type";
    case errc::gpio_reserved_nonzero: return "gpio field that must be zero is not zero";
    case errc::gpio_irq_not_negotiated: return "gpio interrupt use without VIRTIO_GPIO_F_IRQ";
    case errc::gpio_names_unsupported: return "gpio line names are not supported";
    case errc::gpio_response_too_short: return "buffer too short for the gpio response";
    case errc::gpio_response_size: return "gpio response has the wrong length";
    case errc::gpio_status_err: return "gpio device answered with an error status";
    case errc::gpio_bad_status: return "gpio status byte has an undefined value";
    case errc::gpio_bad_response_value: return "gpio response value out of range";
    case errc::gpio_no_lines: return "gpio device has no lines";
    case errc::gpio_names_truncated: return "gpio names blob ends before the last name";
    case errc::gpio_names_trailing: return "gpio names blob has bytes after the last name";
    case errc::gpio_name_invalid: return "gpio line name is not 7-bit ASCII text";
    case errc::gpio_name_duplicate: return "two gpio lines share a name";
    case errc::gpio_names_too_large: return "gpio names exceed the protocol's limits";
    case errc::gpio_too_many_lines: return "gpio chip has more lines than the device model holds";
    case errc::gpio_irq_on_output: return "gpio interrupt message for an output line";
    case errc::gpio_line_irq_enabled: return "gpio line with an interrupt keeps its direction";
    case errc::gpio_names_changed: return "gpio chip line names no longer match the names blob";
    case errc::gpio_line_fault: return "gpio chip failed an operation on the line";
    case errc::gpio_line_busy: return "gpio line has a request in flight";
    case errc::gpio_timeout: return "gave up waiting for the gpio device";
    case errc::gpio_irq_not_enabled: return "gpio line interrupt is not enabled";
    case errc::gpio_irq_unmasked: return "gpio line interrupt is already unmasked";
    case errc::gpio_lines_exceed_driver: return "gpio device has more lines than the front-end holds";
    // i2c (5xx)
    case errc::i2c_header_too_short: return "i2c request has no 8-byte out header";
    case errc::i2c_no_status: return "i2c request has no writable status byte";
    case errc::i2c_reserved_flags: return "i2c request sets reserved flag bits";
    case errc::i2c_read_buffer_readable: return "i2c read request has a device-readable buffer";
    case errc::i2c_write_buffer_writable: return "i2c write request has a device-writable buffer";
    case errc::i2c_zero_length_not_negotiated: return "zero-length i2c request not negotiated";
    case errc::i2c_buffer_too_long: return "i2c request buffer exceeds the device's limit";
    case errc::i2c_address_invalid: return "i2c address field encodes no 7-bit or 10-bit address";
    case errc::i2c_address_reserved: return "i2c address is reserved";
    case errc::i2c_address_out_of_range: return "i2c address out of range";
    case errc::i2c_feature_required: return "VIRTIO_I2C_F_ZERO_LENGTH_REQUEST is required";
    case errc::i2c_bad_status: return "i2c status byte has an undefined value";
    case errc::i2c_status_not_written: return "i2c used length does not cover the status byte";
    case errc::i2c_read_incomplete: return "i2c read completed before its buffer was filled";
    case errc::i2c_message_failed: return "i2c device answered with an error status";
    case errc::i2c_transfer_too_large: return "i2c transfer exceeds the front-end slot size";
    case errc::i2c_no_free_slot: return "no free i2c transfer slot";
    case errc::i2c_timeout: return "gave up waiting for the i2c device";
    case errc::i2c_bounce_exhausted: return "i2c group does not fit the device's bounce area";
    case errc::i2c_group_too_long: return "i2c group has more requests than one transfer carries";
    case errc::i2c_transfer_incomplete: return "i2c bus did not complete every message";
    case errc::i2c_address_in_use: return "an i2c target is already attached at this address";
    case errc::i2c_bus_full: return "the simulated i2c bus has no room for another target";
    // vhost-user (6xx)
    case errc::vhost_header_truncated: return "vhost-user message header is truncated";
    case errc::vhost_payload_too_large: return "vhost-user payload size exceeds the configured maximum";
    case errc::vhost_bad_version: return "vhost-user message version is not 1";
    case errc::vhost_reserved_flags: return "vhost-user message sets reserved flag bits";
    case errc::vhost_frame_length: return "vhost-user buffer length does not match the header size";
    case errc::vhost_reply_flag_on_request: return "vhost-user request has the REPLY flag set";
    case errc::vhost_bad_reply_flags: return "vhost-user reply flags are not exactly 0x5";
    case errc::vhost_reply_mismatch: return "vhost-user reply is for another request";
    case errc::vhost_unknown_request: return "unknown vhost-user request code";
    case errc::vhost_payload_size: return "vhost-user payload size is wrong for the request";
    case errc::vhost_missing_fd: return "vhost-user message lacks a required file descriptor";
    case errc::vhost_unexpected_fd: return "vhost-user message carries an unexpected file descriptor";
    case errc::vhost_reserved_nonzero: return "vhost-user reserved field or bit is not zero";
    case errc::vhost_region_count: return "vhost-user memory table region count is 0 or above 8";
    case errc::vhost_zero_size: return "vhost-user size or count field is zero";
    case errc::vhost_range_overflow: return "vhost-user address range overflows 64 bits";
    case errc::vhost_vring_index: return "vhost-user vring index out of range";
    case errc::vhost_bad_value: return "vhost-user field value is undefined";
    case errc::vhost_config_range: return "vhost-user config range exceeds 256 bytes";
    case errc::vhost_reply_not_expected: return "vhost-user reply to a message that expects none";
    case errc::vhost_not_owner: return "vhost-user request before SET_OWNER";
    case errc::vhost_out_of_order: return "vhost-user request not allowed in this session state";
    case errc::vhost_not_negotiated: return "vhost-user request needs a feature not negotiated";
    case errc::vhost_inflight_invalid: return "vhost-user inflight region does not fit the queue";
    case errc::vhost_no_backend_channel: return "vhost-user back-end request channel is not set up";
    case errc::vhost_backend_request_failed: return "the front-end refused a back-end request";
    case errc::vhost_log_range: return "vhost-user dirty log does not cover the address";
    // greybus (7xx)
    case errc::greybus_short_message: return "greybus message is shorter than its 8-byte header";
    case errc::greybus_size_below_header: return "greybus header size field is below 8";
    case errc::greybus_incomplete_message: return "greybus message is shorter than its size field";
    case errc::greybus_trailing_bytes: return "greybus message has bytes after its size field";
    case errc::greybus_response_id_zero: return "greybus response carries operation id 0";
    case errc::greybus_request_result_nonzero: return "greybus request has a non-zero result byte";
    case errc::greybus_unknown_operation: return "greybus operation type is not defined for the protocol";
    case errc::greybus_payload_too_short: return "greybus payload is shorter than the operation's layout";
    case errc::greybus_payload_too_long: return "greybus payload is longer than the operation's layout";
    case errc::greybus_not_a_request: return "greybus message direction is not the one expected";
    case errc::greybus_no_response: return "greybus response to a unidirectional operation";
    case errc::greybus_count_overrun: return "greybus descriptor count overruns the payload";
    case errc::greybus_data_length: return "greybus data length differs from its length fields";
    case errc::greybus_empty_data: return "greybus data length is zero";
    case errc::greybus_error_response: return "greybus response carries an error result";
    case errc::greybus_index_out_of_range: return "greybus line or instance index beyond the reported count";
    case errc::greybus_message_too_large: return "greybus message would exceed 65535 bytes";
    case errc::greybus_manifest_too_short: return "greybus manifest is shorter than its 4-byte header";
    case errc::greybus_manifest_size_mismatch: return "greybus manifest size field differs from its length";
    case errc::greybus_manifest_version: return "greybus manifest major version is not supported";
    case errc::greybus_manifest_trailing_bytes: return "greybus manifest has stray bytes after its last descriptor";
    case errc::greybus_manifest_descriptor_overrun: return "greybus manifest descriptor runs past the manifest's end";
    case errc::greybus_manifest_descriptor_type: return "greybus manifest descriptor type is invalid or reserved";
    case errc::greybus_manifest_descriptor_too_small: return "greybus manifest descriptor is smaller than its type needs";
    case errc::greybus_manifest_interface_count: return "greybus manifest does not have exactly one interface descriptor";
    case errc::greybus_manifest_string_missing: return "greybus manifest string id is referenced but absent";
    case errc::greybus_manifest_string_reused: return "greybus manifest string is referenced twice";
    case errc::greybus_manifest_control_class: return "greybus manifest bundle has the Control class";
    case errc::greybus_manifest_bundle_invalid_id: return "greybus manifest bundle id is 0xff";
    case errc::greybus_manifest_bundle_duplicate: return "greybus manifest bundle id is used twice";
    case errc::greybus_manifest_no_bundles: return "greybus manifest has no usable bundle";
    case errc::greybus_manifest_size_alignment: return "greybus manifest descriptor size is not a multiple of 4";
    case errc::greybus_manifest_string_id_zero: return "greybus manifest string descriptor has id 0";
    case errc::greybus_manifest_string_duplicate: return "greybus manifest string id is used twice";
    case errc::greybus_manifest_bundle_empty: return "greybus manifest bundle has no cport";
    case errc::greybus_manifest_cport_control: return "greybus manifest lists cport 0";
    case errc::greybus_manifest_cport_id_range: return "greybus manifest cport id is above 4095";
    case errc::greybus_manifest_cport_orphan: return "greybus manifest cport refers to a missing bundle";
    case errc::greybus_manifest_cport_duplicate: return "greybus manifest cport id is used twice";
    case errc::greybus_manifest_capacity: return "greybus manifest has more bundles or cports than the view holds";
    case errc::greybus_manifest_string_too_long: return "greybus manifest string is longer than 255 bytes";
    case errc::greybus_manifest_too_large: return "greybus manifest would exceed 65535 bytes";
    case errc::greybus_mnfs_syntax: return "mnfs line is not a section, an option or a comment";
    case errc::greybus_mnfs_unknown_section: return "mnfs section names no known descriptor";
    case errc::greybus_mnfs_duplicate: return "mnfs section or key is given twice";
    case errc::greybus_mnfs_missing_key: return "mnfs section lacks a required key";
    case errc::greybus_mnfs_bad_number: return "mnfs number is invalid or out of range";
    case errc::greybus_mnfs_duplicate_id: return "mnfs descriptor id is used twice";
    case errc::greybus_mnfs_bad_reference: return "mnfs reference names a missing or already used descriptor";
    case errc::greybus_mnfs_bad_header: return "mnfs manifest-header or interface is missing or invalid";
    case errc::greybus_mnfs_control_mismatch: return "mnfs control bundle or cport 0 is not of the Control class or protocol";
    case errc::greybus_mnfs_unsupported: return "mnfs construct is not supported";
    case errc::greybus_connection_not_ready: return "greybus connection state does not allow this operation";
    case errc::greybus_too_many_operations: return "greybus connection has too many operations in flight";
    case errc::greybus_unexpected_response: return "greybus response matches no operation in flight";
    case errc::greybus_response_type_mismatch: return "greybus response type differs from its request type";
    case errc::greybus_frame_too_short: return "greybus-virtio frame is shorter than its headers";
    case errc::greybus_frame_too_large: return "greybus-virtio frame exceeds the maximum message size";
    case errc::greybus_frame_direction: return "greybus-virtio buffer has the wrong direction for its queue";
    case errc::greybus_frame_buffer_too_small: return "greybus-virtio module_to_ap buffer is too small for the frame";
    case errc::greybus_cport_out_of_range: return "greybus-virtio CPort id is not below cport_count";
    case errc::greybus_no_free_frame: return "greybus-virtio AP has no free frame buffer";
    case errc::greybus_bad_config: return "greybus-virtio device configuration is invalid or too large";
    case errc::greybus_timeout: return "greybus operation timed out";
    case errc::greybus_protocol_mismatch: return "greybus CPort is absent or carries another protocol";
    case errc::greybus_version_unsupported: return "greybus module answered an unsupported protocol version";
    case errc::greybus_cport_unknown: return "greybus CPort is not in the module's manifest";
    case errc::greybus_cport_in_use: return "greybus CPort already has a responder";
    // host back-ends (8xx)
    case errc::host_no_device: return "host device or adapter does not exist";
    case errc::host_permission_denied: return "host refused access to the device";
    case errc::host_busy: return "host resource is in use by a driver or another consumer";
    case errc::host_not_supported: return "host device does not support this operation";
    case errc::host_rejected: return "host kernel rejected the request as invalid";
    case errc::host_io_error: return "host system call failed";
    case errc::host_closed: return "host back-end owns no descriptor (moved from)";
    case errc::host_name_too_long: return "host path or line name is too long";
    case errc::host_i2c_target_not_allowed: return "i2c target is not in the allow-list";
    case errc::host_i2c_too_many_messages: return "more i2c messages than one I2C_RDWR carries";
    case errc::host_i2c_no_ack: return "i2c target did not acknowledge";
    case errc::host_gpio_line_not_found: return "no host gpio line has the exported name";
    case errc::host_gpio_line_name_ambiguous: return "several host gpio lines have the exported name";
    case errc::host_gpio_line_out_of_range: return "exported gpio offset is beyond the host chip";
    case errc::host_gpio_line_duplicate: return "a host gpio line is exported twice";
    case errc::host_gpio_too_many_lines: return "more exported gpio lines than the back-end holds";
    case errc::host_gpio_line_released: return "host gpio line is not requested";
    case errc::host_gpio_line_not_output: return "host gpio line is not an output";
    case errc::host_gpio_edge_on_output: return "edge detection requested on an output gpio line";
    case errc::host_disconnected: return "peer closed the connection";
    case errc::host_truncated: return "connection ended inside a message";
    case errc::host_too_many_fds: return "more file descriptors than one message may carry";
    case errc::host_control_truncated: return "received control data was truncated";
    case errc::host_no_listener: return "nothing listens on the socket path";
    case errc::host_address_in_use: return "socket path is in use";
    case errc::host_timeout: return "the peer did not answer in time";
    case errc::host_request_failed: return "the back-end reported that the request failed";
  }
  return "unknown error";
}

struct unexpect_t {
  explicit unexpect_t() = default;
};
/// Tag to build a result in its error state: `return {unexpect, errc::out_of_bounds};`
inline constexpr unexpect_t unexpect{};

namespace detail {

/// How a result<T> stores its value or error:
///  - general: a union with hand-written copy/move/destroy, for types with non-trivial members;
///  - small: a union with trivial special members for trivially copyable types from 2 to 7
///    bytes, so that, say, a result<uint16_t> is 4 bytes and comes back in one register;
///  - fields: value and error side by side for the other trivially copyable types (bool, spans,
///    64-bit offsets): GCC keeps these in registers, where it spills the union form (a value
///    narrower than errc leaves union bytes it handles poorly).
/// Both trivial forms make result<T> trivially copyable and copyable in constant expressions.
/// The choice is measured, on the ring hot paths of bench/w1.cpp (pop: result<bool>, map:
/// result<bytes>, driver add: result<uint16_t>).
enum class result_repr : std::uint8_t { general, small, fields };

template <typename T>
inline constexpr bool trivial_result_v =
    std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>;
template <typename T>
inline constexpr bool union_fits_v = sizeof(T) >= sizeof(errc) && sizeof(T) < 8;

template <typename T>
inline constexpr result_repr result_repr_v =
    !trivial_result_v<T> ? result_repr::general
    : (union_fits_v<T> || !std::is_nothrow_default_constructible_v<T>) ? result_repr::small
                                                                       : result_repr::fields;

template <typename T, result_repr Repr = result_repr_v<T>>
struct result_storage {
  constexpr result_storage() noexcept(std::is_nothrow_default_constructible_v<T>)
    requires std::is_default_constructible_v<T>
      : value_(), has_(true) {}
  template <typename U>
  constexpr result_storage(std::in_place_t, U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>)
      : value_(std::forward<U>(v)), has_(true) {}
  constexpr explicit result_storage(errc e) noexcept : error_(e), has_(false) {}

  constexpr result_storage(const result_storage& o) noexcept(std::is_nothrow_copy_constructible_v<T>)
      : has_(o.has_) {
    if (has_) ::new (static_cast<void*>(&value_)) T(o.value_);
    else error_ = o.error_;
  }
  constexpr result_storage(result_storage&& o) noexcept(std::is_nothrow_move_constructible_v<T>)
      : has_(o.has_) {
    if (has_) ::new (static_cast<void*>(&value_)) T(std::move(o.value_));
    else error_ = o.error_;
  }
  constexpr result_storage& operator=(const result_storage& o) noexcept(
      std::is_nothrow_copy_constructible_v<T>) {
    if (this != &o) {
      destroy();
      has_ = o.has_;
      if (has_) ::new (static_cast<void*>(&value_)) T(o.value_);
      else error_ = o.error_;
    }
    return *this;
  }
  constexpr result_storage& operator=(result_storage&& o) noexcept(
      std::is_nothrow_move_constructible_v<T>) {
    if (this != &o) {
      destroy();
      has_ = o.has_;
      if (has_) ::new (static_cast<void*>(&value_)) T(std::move(o.value_));
      else error_ = o.error_;
    }
    return *this;
  }
  constexpr ~result_storage() { destroy(); }

  constexpr void destroy() noexcept {
    if constexpr (!std::is_trivially_destructible_v<T>) {
      if (has_) value_.~T();
    }
  }
  union {
    T value_;
    errc error_;
  };
  bool has_;
};

template <typename T>
struct result_storage<T, result_repr::small> {
  constexpr result_storage() noexcept(std::is_nothrow_default_constructible_v<T>)
    requires std::is_default_constructible_v<T>
      : value_(), has_(true) {}
  template <typename U>
  constexpr result_storage(std::in_place_t, U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>)
      : value_(std::forward<U>(v)), has_(true) {}
  constexpr explicit result_storage(errc e) noexcept : error_(e), has_(false) {}

  union {
    T value_;
    errc error_;
  };
  bool has_;
};

template <typename T>
struct result_storage<T, result_repr::fields> {
  constexpr result_storage() noexcept = default;
  template <typename U>
  constexpr result_storage(std::in_place_t, U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>)
      : value_(std::forward<U>(v)), has_(true) {}
  constexpr explicit result_storage(errc e) noexcept : error_(e), has_(false) {}

  T value_{};
  errc error_{};
  bool has_ = true;
};

}  // namespace detail

/// A value of type T or an errc; shaped like std::expected<T, errc> so that moving to it later is
/// a one-line change. Accessing the wrong alternative is a precondition failure (VIREO_ASSERT).
template <typename T>
class [[nodiscard]] result : private detail::result_storage<T> {
  using base = detail::result_storage<T>;
  using base::has_;
  using base::value_;
  using base::error_;

 public:
  using value_type = T;

  constexpr result() noexcept(std::is_nothrow_default_constructible_v<T>)
    requires std::is_default_constructible_v<T>
      : base() {}
  template <typename U = T>
    requires std::is_constructible_v<T, U&&> &&
             (!std::is_same_v<std::remove_cvref_t<U>, result>) &&
             (!std::is_same_v<std::remove_cvref_t<U>, errc>)
  constexpr result(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>)
      : base(std::in_place, std::forward<U>(v)) {}
  constexpr result(errc e) noexcept : base(e) {}
  constexpr result(unexpect_t, errc e) noexcept : base(e) {}

  [[nodiscard]] constexpr bool has_value() const noexcept { return has_; }
  constexpr explicit operator bool() const noexcept { return has_; }

  [[nodiscard]] constexpr T& value() & noexcept { VIREO_ASSERT(has_); return value_; }
  [[nodiscard]] constexpr const T& value() const& noexcept { VIREO_ASSERT(has_); return value_; }
  [[nodiscard]] constexpr T&& value() && noexcept { VIREO_ASSERT(has_); return std::move(value_); }
  [[nodiscard]] constexpr errc error() const noexcept { VIREO_ASSERT(!has_); return error_; }

  /// The value, or `fallback` when this holds an error.
  template <typename U>
  [[nodiscard]] constexpr T value_or(U&& fallback) const& {
    return has_ ? value_ : static_cast<T>(std::forward<U>(fallback));
  }

  constexpr T& operator*() & noexcept { return value(); }
  constexpr const T& operator*() const& noexcept { return value(); }
  constexpr T&& operator*() && noexcept { return std::move(*this).value(); }
  constexpr T* operator->() noexcept { return &value(); }
  constexpr const T* operator->() const noexcept { return &value(); }
};

/// The result of an operation that yields nothing but can fail.
template <>
class [[nodiscard]] result<void> {
 public:
  using value_type = void;
  constexpr result() noexcept = default;
  constexpr result(errc e) noexcept : error_(e), has_(false) {}
  constexpr result(unexpect_t, errc e) noexcept : error_(e), has_(false) {}

  [[nodiscard]] constexpr bool has_value() const noexcept { return has_; }
  constexpr explicit operator bool() const noexcept { return has_; }
  constexpr void value() const noexcept { VIREO_ASSERT(has_); }
  [[nodiscard]] constexpr errc error() const noexcept { VIREO_ASSERT(!has_); return error_; }

 private:
  errc error_{};
  bool has_ = true;
};

/// Shorthand for a successful result<void>.
[[nodiscard]] constexpr result<void> ok() noexcept { return {}; }

VIREO_NAMESPACE_END

/// Propagate the error of a result-returning expression: `VIREO_TRY(mem.read(a, buf));`
#define VIREO_TRY(expr)                                         \
  do {                                                          \
    auto&& vireo_try_r_ = (expr);                               \
    if (VIREO_UNLIKELY(!vireo_try_r_)) return vireo_try_r_.error(); \
  } while (0)
