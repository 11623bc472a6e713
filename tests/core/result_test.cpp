// SPDX-License-Identifier: Apache-2.0
// Tests for vireo/core/result.hpp: errc, error_message(), result<T>, result<void>, VIREO_TRY.
#include "vireo/core/result.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace {

using vireo::errc;
using vireo::result;

// Every enumerator of errc, as read from result.hpp. Keep in step with the header: the test
// "errc: the list below covers every band" counts them per band.
constexpr errc all_errc[] = {
    errc::out_of_bounds,        errc::address_overflow,        errc::not_contiguous,
    errc::misaligned,           errc::access_denied,           errc::injected_fault,
    errc::invalid_argument,     errc::no_space,                errc::end_of_data,
    errc::region_overlap,       errc::table_full,              errc::not_found,
    errc::feature_not_offered,  errc::feature_dependency,      errc::bad_queue_size,
    errc::ring_misaligned,      errc::ring_not_mapped,         errc::queue_not_ready,
    errc::queue_broken,         errc::avail_idx_jump,          errc::head_out_of_range,
    errc::used_idx_jump,        errc::used_id_out_of_range,    errc::used_id_not_in_flight,
    errc::used_len_too_large,   errc::ring_full,               errc::empty_chain,
    errc::in_order_violation,   errc::feature_not_negotiated,  errc::desc_index_out_of_range,
    errc::chain_too_long,       errc::indirect_in_indirect,    errc::indirect_with_next,
    errc::indirect_not_negotiated, errc::indirect_table_size,  errc::writable_before_readable,
    errc::total_len_overflow,   errc::desc_addr_overflow,      errc::segment_limit,
    errc::notification_data_invalid, errc::indirect_in_chain,
    errc::desc_not_available,
    // gpio (4xx)
    errc::gpio_request_size,    errc::gpio_unknown_type,       errc::gpio_line_out_of_range,
    errc::gpio_bad_direction,   errc::gpio_bad_value,          errc::gpio_bad_irq_type,
    errc::gpio_reserved_nonzero, errc::gpio_irq_not_negotiated, errc::gpio_names_unsupported,
    errc::gpio_response_too_short, errc::gpio_response_size,   errc::gpio_status_err,
    errc::gpio_bad_status,      errc::gpio_bad_response_value, errc::gpio_no_lines,
    errc::gpio_names_truncated, errc::gpio_names_trailing,     errc::gpio_name_invalid,
    errc::gpio_name_duplicate,  errc::gpio_names_too_large,
    errc::gpio_too_many_lines,  errc::gpio_irq_on_output,   errc::gpio_line_irq_enabled,
    errc::gpio_names_changed,   errc::gpio_line_fault,
    errc::gpio_line_busy,       errc::gpio_timeout,            errc::gpio_irq_not_enabled,
    errc::gpio_irq_unmasked,    errc::gpio_lines_exceed_driver,
    // i2c (5xx)
    errc::i2c_header_too_short, errc::i2c_no_status,          errc::i2c_reserved_flags,
    errc::i2c_read_buffer_readable, errc::i2c_write_buffer_writable,
    errc::i2c_zero_length_not_negotiated, errc::i2c_buffer_too_long, errc::i2c_address_invalid,
    errc::i2c_address_reserved, errc::i2c_address_out_of_range, errc::i2c_feature_required,
    errc::i2c_bad_status,       errc::i2c_status_not_written, errc::i2c_read_incomplete,
    errc::i2c_message_failed,   errc::i2c_transfer_too_large,  errc::i2c_no_free_slot,
    errc::i2c_timeout,          errc::i2c_bounce_exhausted,    errc::i2c_group_too_long,
    errc::i2c_transfer_incomplete, errc::i2c_address_in_use,  errc::i2c_bus_full,
    // vhost-user (6xx)
    errc::vhost_header_truncated, errc::vhost_payload_too_large, errc::vhost_bad_version,
    errc::vhost_reserved_flags, errc::vhost_frame_length, errc::vhost_reply_flag_on_request,
    errc::vhost_bad_reply_flags, errc::vhost_reply_mismatch, errc::vhost_unknown_request,
    errc::vhost_payload_size, errc::vhost_missing_fd, errc::vhost_unexpected_fd,
    errc::vhost_reserved_nonzero, errc::vhost_region_count, errc::vhost_zero_size,
    errc::vhost_range_overflow, errc::vhost_vring_index, errc::vhost_bad_value,
    errc::vhost_config_range, errc::vhost_reply_not_expected, errc::vhost_not_owner,
    errc::vhost_out_of_order,       errc::vhost_not_negotiated,
    errc::vhost_inflight_invalid,   errc::vhost_no_backend_channel,
    errc::vhost_backend_request_failed, errc::vhost_log_range,
    // greybus (7xx)
    errc::greybus_short_message, errc::greybus_size_below_header,
    errc::greybus_incomplete_message, errc::greybus_trailing_bytes,
    errc::greybus_response_id_zero, errc::greybus_request_result_nonzero,
    errc::greybus_unknown_operation, errc::greybus_payload_too_short,
    errc::greybus_payload_too_long, errc::greybus_not_a_request, errc::greybus_no_response,
    errc::greybus_count_overrun, errc::greybus_data_length, errc::greybus_empty_data,
    errc::greybus_error_response, errc::greybus_index_out_of_range,
    errc::greybus_message_too_large,
    errc::greybus_manifest_too_short, errc::greybus_manifest_size_mismatch,
    errc::greybus_manifest_version, errc::greybus_manifest_trailing_bytes,
    errc::greybus_manifest_descriptor_overrun, errc::greybus_manifest_descriptor_type,
    errc::greybus_manifest_descriptor_too_small, errc::greybus_manifest_interface_count,
    errc::greybus_manifest_string_missing, errc::greybus_manifest_string_reused,
    errc::greybus_manifest_control_class, errc::greybus_manifest_bundle_invalid_id,
    errc::greybus_manifest_bundle_duplicate, errc::greybus_manifest_no_bundles,
    errc::greybus_manifest_size_alignment, errc::greybus_manifest_string_id_zero,
    errc::greybus_manifest_string_duplicate, errc::greybus_manifest_bundle_empty,
    errc::greybus_manifest_cport_control, errc::greybus_manifest_cport_id_range,
    errc::greybus_manifest_cport_orphan, errc::greybus_manifest_cport_duplicate,
    errc::greybus_manifest_capacity, errc::greybus_manifest_string_too_long,
    errc::greybus_manifest_too_large, errc::greybus_mnfs_syntax,
    errc::greybus_mnfs_unknown_section, errc::greybus_mnfs_duplicate,
    errc::greybus_mnfs_missing_key, errc::greybus_mnfs_bad_number,
    errc::greybus_mnfs_duplicate_id, errc::greybus_mnfs_bad_reference,
    errc::greybus_mnfs_bad_header, errc::greybus_mnfs_control_mismatch,
    errc::greybus_mnfs_unsupported,
    errc::greybus_connection_not_ready, errc::greybus_too_many_operations,
    errc::greybus_unexpected_response, errc::greybus_response_type_mismatch,
    errc::greybus_frame_too_short, errc::greybus_frame_too_large,
    errc::greybus_frame_direction, errc::greybus_frame_buffer_too_small,
    errc::greybus_cport_out_of_range, errc::greybus_no_free_frame, errc::greybus_bad_config,
    errc::greybus_timeout, errc::greybus_protocol_mismatch, errc::greybus_version_unsupported,
    errc::greybus_cport_unknown, errc::greybus_cport_in_use,
    // host back-ends (8xx)
    errc::host_no_device,       errc::host_permission_denied,  errc::host_busy,
    errc::host_not_supported,   errc::host_rejected,           errc::host_io_error,
    errc::host_closed,          errc::host_name_too_long,      errc::host_i2c_target_not_allowed,
    errc::host_i2c_too_many_messages, errc::host_i2c_no_ack,   errc::host_gpio_line_not_found,
    errc::host_gpio_line_name_ambiguous, errc::host_gpio_line_out_of_range,
    errc::host_gpio_line_duplicate, errc::host_gpio_too_many_lines,
    errc::host_gpio_line_released, errc::host_gpio_line_not_output,
    errc::host_gpio_edge_on_output, errc::host_disconnected,  errc::host_truncated,
    errc::host_too_many_fds,    errc::host_control_truncated,  errc::host_no_listener,
    errc::host_address_in_use,  errc::host_timeout,            errc::host_request_failed,
};

// A type that counts its live instances, so leaks and double destroys show up as a wrong count.
struct tracked {
  static inline int live = 0;
  static inline int copies = 0;
  static inline int moves = 0;
  int v = 0;
  bool moved_from = false;
  explicit tracked(int x) noexcept : v(x) { ++live; }
  tracked(const tracked& o) noexcept : v(o.v) {
    ++live;
    ++copies;
  }
  tracked(tracked&& o) noexcept : v(o.v) {
    o.moved_from = true;
    ++live;
    ++moves;
  }
  tracked& operator=(const tracked&) = delete;
  tracked& operator=(tracked&&) = delete;
  ~tracked() { --live; }
  static void reset() { live = copies = moves = 0; }
};

result<int> parse_digit(char c) {
  if (c < '0' || c > '9') return errc::invalid_argument;
  return c - '0';
}

result<int> sum_two(char a, char b) {
  auto x = parse_digit(a);
  VIREO_TRY(x);
  auto y = parse_digit(b);
  VIREO_TRY(y);
  return *x + *y;
}

int steps_done = 0;
result<void> step(bool fail) {
  if (fail) return errc::injected_fault;
  ++steps_done;
  return vireo::ok();
}
result<void> three_steps(bool fail_second) {
  VIREO_TRY(step(false));
  VIREO_TRY(step(fail_second));
  VIREO_TRY(step(false));
  return vireo::ok();
}
// VIREO_TRY on a result<void> inside a function returning result<T>.
result<std::uint64_t> try_void_into_value(bool fail) {
  VIREO_TRY(step(fail));
  return std::uint64_t{42};
}

constexpr result<int> constexpr_half(int x) {
  if (x % 2 != 0) return errc::invalid_argument;
  return x / 2;
}
// True when result<int> can be built and read in a constant expression (a non-constant template
// argument makes the requirement unsatisfied instead of a hard error).
template <int N>
concept half_is_constant = requires {
  typename std::integral_constant<int, constexpr_half(N).value()>;
  typename std::integral_constant<bool, constexpr_half(N + 1).has_value()>;
  typename std::integral_constant<int, constexpr_half(N + 1).value_or(-1)>;
};

// Plain value types (trivially copyable) copy and assign in constant expressions too.
constexpr bool copies_in_constant_expression() {
  result<int> a{3};
  result<int> b = a;
  b = result<int>{errc::out_of_bounds};
  result<int> c = b;
  return a.value() == 3 && !b.has_value() && c.error() == errc::out_of_bounds;
}
static_assert(copies_in_constant_expression());
static_assert(std::is_trivially_copyable_v<result<int>>);
static_assert(std::is_trivially_copyable_v<result<std::uint64_t>>);

static_assert(vireo::ok().has_value());
static_assert(!vireo::result<void>{errc::no_space}.has_value());
static_assert(vireo::result<void>{errc::no_space}.error() == errc::no_space);
static_assert(!vireo::error_message(errc::out_of_bounds).empty());

static_assert(std::is_same_v<std::underlying_type_t<errc>, std::uint16_t>);
static_assert(std::is_nothrow_move_constructible_v<result<int>>);
static_assert(std::is_nothrow_copy_constructible_v<result<int>>);

}  // namespace

TEST_CASE("errc: values sit in their documented bands (1xx core, 2xx ring, 3xx chain)") {
  CHECK(static_cast<int>(errc::out_of_bounds) == 100);
  CHECK(static_cast<int>(errc::feature_dependency) == 113);
  CHECK(static_cast<int>(errc::bad_queue_size) == 200);
  CHECK(static_cast<int>(errc::feature_not_negotiated) == 214);
  CHECK(static_cast<int>(errc::desc_index_out_of_range) == 300);
  CHECK(static_cast<int>(errc::segment_limit) == 309);
  CHECK(static_cast<int>(errc::greybus_short_message) == 700);
  // Every band is dense: its values run from N00 without a gap, so a new enumerator missing
  // from all_errc (or a typo in a value) shows up here.
  std::map<int, std::set<int>> bands;
  for (errc e : all_errc) bands[static_cast<int>(e) / 100].insert(static_cast<int>(e) % 100);
  for (const auto& entry : bands) {
    const int band = entry.first;  // not a structured binding: clang 14 cannot capture those
    const std::set<int>& members = entry.second;
    CAPTURE(band);
    CHECK(band >= 1);
    CHECK(band <= 8);
    CHECK(*members.begin() == 0);
    CHECK(*members.rbegin() == static_cast<int>(members.size()) - 1);
  }
  CHECK(bands.size() >= 3);
  CHECK(bands.count(7) == 1);  // greybus (7xx) is listed, so its density is checked above
}

TEST_CASE("errc: error_message is non-empty and distinct for every enumerator") {
  std::set<std::string_view> seen;
  std::set<int> values;
  for (errc e : all_errc) {
    const std::string_view m = vireo::error_message(e);
    CAPTURE(static_cast<int>(e));
    CHECK_FALSE(m.empty());
    CHECK(m != "unknown error");
    CHECK(seen.insert(m).second);
    CHECK(values.insert(static_cast<int>(e)).second);
  }
  CHECK(seen.size() == std::size(all_errc));
}

TEST_CASE("errc: error_message of a value outside the enum is \"unknown error\"") {
  CHECK(vireo::error_message(static_cast<errc>(0)) == "unknown error");
  CHECK(vireo::error_message(static_cast<errc>(199)) == "unknown error");
  CHECK(vireo::error_message(static_cast<errc>(0xFFFF)) == "unknown error");
  // Every value in every band that is not an enumerator falls to the default.
  std::set<int> known;
  for (errc e : all_errc) known.insert(static_cast<int>(e));
  for (int v = 100; v < 900; ++v) {
    if (known.count(v) != 0) continue;
    CAPTURE(v);
    CHECK(vireo::error_message(static_cast<errc>(v)) == "unknown error");
  }
}

TEST_CASE("result<T>: value state") {
  result<int> r = 7;
  CHECK(r.has_value());
  CHECK(static_cast<bool>(r));
  CHECK(r.value() == 7);
  CHECK(*r == 7);
  CHECK(r.value_or(9) == 7);
  *r = 8;
  CHECK(r.value() == 8);
  const result<int>& cr = r;
  CHECK(cr.value() == 8);
  CHECK(*cr == 8);
}

TEST_CASE("result<T>: error state, from errc and from the unexpect tag") {
  result<int> a = errc::end_of_data;
  result<int> b{vireo::unexpect, errc::no_space};
  CHECK_FALSE(a.has_value());
  CHECK_FALSE(static_cast<bool>(a));
  CHECK(a.error() == errc::end_of_data);
  CHECK(b.error() == errc::no_space);
  CHECK(a.value_or(-5) == -5);
}

TEST_CASE("result<T>: default construction value-initialises T") {
  result<int> r;
  CHECK(r.has_value());
  CHECK(*r == 0);
}

TEST_CASE("result<T>: operator-> reaches members") {
  struct pair_like {
    int a;
    int b;
  };
  result<pair_like> r = pair_like{1, 2};
  CHECK(r->a == 1);
  r->b = 5;
  CHECK(r.value().b == 5);
  const auto& cr = r;
  CHECK(cr->b == 5);
}

TEST_CASE("result<T>: rvalue value() moves the payload out") {
  tracked::reset();
  {
    result<tracked> r{tracked{3}};
    CHECK(tracked::live == 1);
    tracked t = std::move(r).value();
    CHECK(t.v == 3);
    CHECK(tracked::live == 2);
    CHECK(tracked::copies == 0);
    CHECK(r->moved_from);
    tracked u = *std::move(r);
    CHECK(tracked::copies == 0);
    CHECK(tracked::live == 3);
  }
  CHECK(tracked::live == 0);
}

TEST_CASE("result<T>: copy and move of a non-trivial T neither leak nor double-destroy") {
  tracked::reset();
  {
    result<tracked> a{tracked{1}};
    CHECK(tracked::live == 1);  // the temporary is gone, the payload stays
    result<tracked> b = a;      // copy construct
    CHECK(tracked::live == 2);
    CHECK(tracked::copies == 1);
    CHECK(b->v == 1);
    result<tracked> c = std::move(a);  // move construct: source keeps a moved-from T
    CHECK(tracked::live == 3);
    CHECK(c->v == 1);
    CHECK(a.has_value());
    CHECK(a->moved_from);

    result<tracked> e = errc::out_of_bounds;
    CHECK(tracked::live == 3);
    e = b;  // copy assign: error -> value
    CHECK(tracked::live == 4);
    CHECK(e->v == 1);
    e = result<tracked>{errc::no_space};  // move assign: value -> error destroys the T
    CHECK(tracked::live == 3);
    CHECK(e.error() == errc::no_space);
    b = result<tracked>{tracked{9}};  // move assign: value -> value
    CHECK(tracked::live == 3);
    CHECK(b->v == 9);
    b = e;  // copy assign: value -> error
    CHECK(tracked::live == 2);
    CHECK(b.error() == errc::no_space);
    const result<tracked>& same = c;
    c = same;  // self copy-assignment keeps the value
    CHECK(tracked::live == 2);
    CHECK(c->v == 1);
    result<tracked> f = e;  // copy of an error
    CHECK(f.error() == errc::no_space);
    result<tracked> g = std::move(f);  // move of an error
    CHECK(g.error() == errc::no_space);
    CHECK(tracked::live == 2);
  }
  CHECK(tracked::live == 0);
}

TEST_CASE("result<T>: value_or copies, never moves out of an lvalue") {
  tracked::reset();
  {
    result<tracked> r{tracked{4}};
    tracked t = r.value_or(tracked{0});
    CHECK(t.v == 4);
    CHECK_FALSE(r->moved_from);
    result<tracked> e = errc::not_found;
    tracked u = e.value_or(tracked{6});
    CHECK(u.v == 6);
  }
  CHECK(tracked::live == 0);
}

TEST_CASE("result<void>: default is success, errc is failure") {
  result<void> s;
  CHECK(s.has_value());
  CHECK(static_cast<bool>(s));
  s.value();  // no-op on success
  result<void> f = errc::access_denied;
  CHECK_FALSE(f.has_value());
  CHECK(f.error() == errc::access_denied);
  result<void> g{vireo::unexpect, errc::table_full};
  CHECK(g.error() == errc::table_full);
  result<void> copy = f;
  CHECK(copy.error() == errc::access_denied);
  copy = vireo::ok();
  CHECK(copy.has_value());
}

TEST_CASE("VIREO_TRY: returns the first error and stops; passes through on success") {
  CHECK(sum_two('3', '4').value() == 7);
  CHECK(sum_two('x', '4').error() == errc::invalid_argument);
  CHECK(sum_two('3', 'y').error() == errc::invalid_argument);

  steps_done = 0;
  CHECK(three_steps(false).has_value());
  CHECK(steps_done == 3);
  steps_done = 0;
  auto r = three_steps(true);
  CHECK(r.error() == errc::injected_fault);
  CHECK(steps_done == 1);  // the third step never ran

  CHECK(try_void_into_value(false).value() == 42);
  CHECK(try_void_into_value(true).error() == errc::injected_fault);
}

// Value and error construction initialise the union member directly, so they are constant
// expressions.
TEST_CASE("result<T>: usable in constant expressions") {
  CHECK(half_is_constant<8>);
  CHECK(constexpr_half(8).value() == 4);
  CHECK(constexpr_half(9).value_or(-1) == -1);
}

TEST_CASE("VIREO_TRY: evaluates its expression exactly once") {
  int calls = 0;
  auto f = [&]() -> result<void> {
    auto g = [&]() -> result<int> {
      ++calls;
      return 1;
    };
    VIREO_TRY(g());
    return vireo::ok();
  };
  CHECK(f().has_value());
  CHECK(calls == 1);
}
