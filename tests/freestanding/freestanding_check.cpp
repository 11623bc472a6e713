// SPDX-License-Identifier: Apache-2.0
// Built for a Cortex-M4 by scripts/check-freestanding.sh (-fno-exceptions -fno-rtti, -c only):
// instantiates the core, ring and chain layers for real, and a virtio-i2c front-end talking to the
// i2c device model over a simulated bus, so the object's undefined symbols show that a driver and
// a device round trip needs no malloc, no operator new and no throw.
#include <vireo/vireo.hpp>

#if defined(__cpp_exceptions) || defined(__cpp_rtti)
#error "the freestanding check is built with -fno-exceptions -fno-rtti"
#endif

namespace {

using vireo::bytes;
using vireo::const_bytes;
using vireo::flat_memory;
using vireo::gpa;
namespace ring = vireo::ring;
namespace layout = vireo::ring::split_layout;

constexpr std::uint16_t queue_size = 16;
constexpr std::uint64_t ram_base = 0x2000'0000;  // a typical Cortex-M SRAM address

// The shared window: [desc table][avail ring][used ring][data]. Not const and not static-local,
// so the compiler cannot fold the round trip away and no guard variable is needed.
alignas(16) std::byte guest_ram[2048];
alignas(4) std::byte region_a[64];
alignas(4) std::byte region_b[64];

constexpr std::size_t desc_off = 0;
constexpr std::size_t avail_off = desc_off + layout::desc_table_bytes(queue_size);
constexpr std::size_t used_off =  // round up to the used ring's 4-byte alignment (§2.7.1)
    (avail_off + layout::avail_bytes(queue_size) + 3) & ~std::size_t{3};
constexpr std::size_t data_off = 1024;
static_assert(used_off + layout::used_bytes(queue_size) <= data_off);

struct request_header {
  vireo::le32 op;
  vireo::le32 len;
};
static_assert(sizeof(request_header) == 8 && alignof(request_header) == 1);
static_assert(offsetof(request_header, op) == 0 && offsetof(request_header, len) == 4);
static_assert(vireo::wire_type<request_header>);

// Each step that fails returns its own code, so a miscompile shows which step broke.
int round_trip(flat_memory& mem) noexcept {
  const ring::queue_config cfg{queue_size, mem.base().offset(desc_off),
                               mem.base().offset(avail_off), mem.base().offset(used_off),
                               vireo::feature_set{vireo::transport_feature::event_idx}};

  ring::split_driver<flat_memory, 16> driver{mem};
  if (!driver.configure(cfg)) return 1;
  ring::split_device<flat_memory, 4> device{mem};
  if (!device.configure(cfg)) return 2;

  // Driver: an 8-byte readable header plus 8 payload bytes, then a 16-byte writable buffer.
  const gpa req = mem.base().offset(data_off);
  const gpa resp = mem.base().offset(data_off + 64);
  request_header h{};
  h.op.set(7);
  h.len.set(8);
  if (!mem.write(req, vireo::as_bytes_of(h))) return 3;
  const ring::buffer readable[] = {{req, sizeof h}, {req.offset(sizeof h), 8}};
  const ring::buffer writable[] = {{resp, 16}};
  auto head = driver.add(readable, writable, 0xC0FFEE);
  if (!head) return 4;
  const bool kick = driver.needs_kick();

  // Device: pop, decode through the reader (straddling nothing here, but the same code would),
  // answer through the writer, complete, decide on a notification.
  auto chain = device.pop();
  if (!chain || chain->empty()) return 5;
  auto rd = chain->reader();
  auto hdr = rd.read_obj<request_header>();
  if (!hdr || hdr->op.get() != 7) return 6;
  std::byte payload[8];
  if (!rd.read(payload)) return 7;
  auto wr = chain->writer();
  vireo::le32 answer = vireo::le32::from(hdr->op.get() + hdr->len.get());
  if (!wr.write_obj(answer) || !wr.write(payload)) return 8;
  if (!device.push_used(*chain, wr.written())) return 9;
  const bool notify = device.needs_notification();

  // Driver: reclaim the completion and check what the device reported.
  auto used = driver.reclaim();
  if (!used || !*used) return 10;
  if ((*used)->id != *head || (*used)->len != 12 || (*used)->user_data != 0xC0FFEE) return 11;
  vireo::le32 got{};
  if (!mem.read(resp, vireo::as_writable_bytes_of(got)) || got.get() != 15) return 12;

  // A descriptor loop written raw: the device rejects that one chain and keeps serving.
  ring::split_desc loop{};
  loop.addr.set(req.raw());
  loop.len.set(8);
  loop.flags.set(ring::desc_flag::next);
  loop.next.set(3);
  if (!mem.write(cfg.desc_table.offset(3 * sizeof loop), vireo::as_bytes_of(loop))) return 13;
  if (!mem.store_u16(cfg.driver_area.offset(layout::avail_ring(1)), 3, std::memory_order_relaxed))
    return 14;
  if (!mem.store_u16(cfg.driver_area.offset(layout::avail_idx), 2, std::memory_order_release))
    return 15;
  auto bad = device.pop();
  if (bad || bad.error() != vireo::errc::chain_too_long || !device.rejected()) return 16;
  if (!device.push_used(*device.rejected(), 0)) return 17;
  return (kick ? 0x100 : 0) | (notify ? 0x200 : 0);
}

int regions() noexcept {
  // Two regions back to back in guest space but apart on the host: a read across the seam
  // copies through both, a map across it answers not_contiguous.
  vireo::region_table<4> table;
  if (!table.add({gpa{0x1000}, sizeof region_a, region_a, vireo::access::read_write})) return 20;
  if (!table.add({gpa{0x1040}, sizeof region_b, region_b, vireo::access::read})) return 21;
  region_a[63] = std::byte{0xA5};
  region_b[0] = std::byte{0x5A};
  std::byte across[2];
  if (!table.read(gpa{0x103F}, across)) return 22;
  if (across[0] != std::byte{0xA5} || across[1] != std::byte{0x5A}) return 23;
  auto m = table.map(gpa{0x103F}, 2, vireo::access::read);
  if (m || m.error() != vireo::errc::not_contiguous) return 24;
  if (table.write(gpa{0x1040}, const_bytes{across}).has_value()) return 25;  // read-only region
  return 0;
}

int faults(flat_memory& mem) noexcept {
  vireo::faulty_memory<flat_memory> faulty{mem};
  faulty.fail_after(1);
  std::byte b[4];
  if (!faulty.read(mem.base(), b)) return 30;
  auto second = faulty.read(mem.base(), b);
  if (second || second.error() != vireo::errc::injected_fault) return 31;
  return faulty.faults() == 1 ? 0 : 32;
}

// ---- virtio-i2c end to end: front-end, split requestq, device model, simulated EEPROM --------

namespace i2c = vireo::i2c;
constexpr std::uint16_t i2c_queue_size = 8;
alignas(16) std::byte i2c_ram[4096];

using i2c_front_end =
    i2c::driver<flat_memory, ring::split_driver<flat_memory, i2c_queue_size>, 1, 2>;
using i2c_adapter = i2c::device<ring::split_device<flat_memory, 4>, i2c::sim::bus<1>, 2, 64>;

int i2c_session(flat_memory& mem) noexcept {
  const vireo::feature_set negotiated = i2c::device_features();  // ZERO_LENGTH_REQUEST
  const std::size_t avail = layout::desc_table_bytes(i2c_queue_size);
  const std::size_t used = (avail + layout::avail_bytes(i2c_queue_size) + 3) & ~std::size_t{3};
  const ring::queue_config cfg{i2c_queue_size, mem.base(), mem.base().offset(avail),
                               mem.base().offset(used), vireo::feature_set{}};
  const std::uint64_t region_bytes = i2c_front_end::region_size(32);
  const ring::driver_region region{mem.base().offset(1024), region_bytes};
  if (1024 + region_bytes > sizeof i2c_ram) return 40;

  ring::split_driver<flat_memory, i2c_queue_size> drvq{mem};
  ring::split_device<flat_memory, 4> devq{mem};
  if (!drvq.configure(cfg) || !devq.configure(cfg)) return 41;
  i2c::sim::eeprom_24c02 eeprom;
  i2c::sim::bus<1> bus;
  const auto at = i2c::address::seven_bit(0x50);
  if (!at || !bus.attach(*at, eeprom)) return 42;
  i2c::device_options dopt;
  dopt.features = negotiated;
  i2c_adapter dev{devq, bus, dopt};
  i2c::driver_options fopt;
  fopt.transfer_bytes = 32;
  fopt.mode = ring::add_mode::direct;
  auto fe = i2c_front_end::create(mem, drvq, region, negotiated, fopt);
  if (!fe) return 43;
  ring::env_callbacks env{[&](std::uint16_t) { (void)dev.process(); },
                          [&] { (void)dev.process(); }};

  // Word address 0x10 then three bytes; then a random read of them (one FAIL_NEXT group).
  const std::byte page[] = {std::byte{0x10}, std::byte{1}, std::byte{2}, std::byte{3}};
  auto w = fe->transfer(i2c::transfer_msg::write(*at, page), env);
  if (!w || !w->ok()) return 44;
  std::byte back[3]{};
  const i2c::transfer_msg random_read[] = {i2c::transfer_msg::write(*at, {page, 1}),
                                           i2c::transfer_msg::read(*at, back)};
  auto r = fe->transfer(random_read, env);
  if (!r || !r->ok()) return 45;
  if (back[0] != page[1] || back[1] != page[2] || back[2] != page[3]) return 46;
  // Nobody at 0x51: the probe is answered ERR, the device keeps serving.
  auto probe = fe->probe(*i2c::address::seven_bit(0x51), env);
  return probe && !*probe ? 0 : 47;
}

}  // namespace

extern "C" int vireo_freestanding_demo(void) {
  flat_memory mem{bytes{guest_ram}, gpa{ram_base}};
  const int rt = round_trip(mem);
  if ((rt & 0xFF) != 0) return rt;
  if (const int r = regions(); r != 0) return r;
  if (const int f = faults(mem); f != 0) return f;
  flat_memory i2c_mem{bytes{i2c_ram}, gpa{ram_base + 0x10000}};
  if (const int i = i2c_session(i2c_mem); i != 0) return i;
  return rt;  // 0x100 | 0x200: the driver kicked and the device notified
}
