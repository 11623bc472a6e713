// SPDX-License-Identifier: Apache-2.0
// The module's answer to the Control protocol on CPort 0 (greybus digest §3, §8; spec
// special/control.rst; Linux drivers/greybus/control.c and connection.c as the requester):
// Version, the manifest (size, then bytes), the per-CPort connection state that Connected /
// Disconnecting / Disconnected drive, the Bundle and Interface PM operations, Bundle Version
// and CPort Shutdown.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "vireo/core/bytes.hpp"
#include "vireo/core/result.hpp"
#include "vireo/greybus/control.hpp"
#include "vireo/greybus/header.hpp"
#include "vireo/greybus/manifest.hpp"
#include "vireo/greybus/message.hpp"
#include "vireo/greybus/module/responder.hpp"
#include "vireo/greybus/operation.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus::module {

/// A CPort's connection as the module sees it (§8). Requests other than Control are answered
/// only in `connected`; in `disconnecting` only CPort Shutdown is (Linux sends it between
/// Disconnecting and Disconnected).
enum class cport_state : std::uint8_t { disconnected, connected, disconnecting };

/// What a Control request did to a CPort's connection, told to the caller's listener so that
/// the CPort's responder can start afresh or release the host resources it holds.
enum class connection_event : std::uint8_t { connected, disconnected };

/// Bundle power states (spec hardware model: BUNDLE_ACTIVE, BUNDLE_SUSPENDED, BUNDLE_OFF).
enum class bundle_state : std::uint8_t { active, suspended, off };

/// The Control protocol's version of the Bundle Class a bundle implements: the spec's
/// document version 0.1 for every class it defines (control.rst, Bundle Version).
inline constexpr version_payload bundle_class_version{0, 1};

/// Control responder for a manifest of up to MaxBundles bundles and MaxCPorts CPorts. The
/// manifest is a view: the caller keeps its bytes alive and unchanged.
///
/// Answers (Linux is the requester; unknown or unsupported types get GB_OP_INVALID as Linux
/// protocol handlers and greybus-for-zephyr answer unknown types; malformed payloads too):
///  - Version: min(offer, 0.1) (the offer if supported, else ours, §2);
///  - Get Manifest Size / Get Manifest: the manifest's length / bytes; Get Manifest needs a
///    response buffer of 8 + size bytes (the router answers GB_OP_OVERFLOW otherwise);
///  - Connected(c): c must be a manifest CPort (GB_OP_INVALID otherwise). Connected on a
///    connected CPort tears the old connection down first (an AP that restarted enumeration);
///  - Disconnecting(c): connected -> disconnecting; Disconnected(c): connected or disconnecting
///    -> disconnected. Either on a CPort that is not in that state: GB_OP_INVALID;
///  - CPort 0 (this connection) is implicit (§3): Linux sends Disconnecting(0) when it tears the
///    control connection down and never Connected(0) or Disconnected(0); all three succeed
///    without changing anything;
///  - Bundle Activate / Deactivate / Suspend / Resume: the status byte of control.rst's bundle
///    state machine: INVAL for a bundle id the manifest lacks, OK for a request that leaves the
///    bundle where it is, NA for the forbidden transitions (suspend/resume an off bundle,
///    activate/deactivate a suspended one), BUSY for suspend/deactivate while a CPort of the
///    bundle is still connected (the spec makes the AP close them first);
///  - Bundle Version: bundle_class_version, GB_OP_INVALID for an unknown bundle;
///  - Interface Suspend Prepare / Deactivate Prepare: OK; Hibernate Abort: empty success;
///  - Mode Switch (unidirectional): counted, no response;
///  - TimeSync (0x07..0x09, 0x0d) and Probe AP (0x02): not implemented, GB_OP_INVALID.
template <std::size_t MaxBundles = 8, std::size_t MaxCPorts = 32>
class control_responder {
 public:
  static constexpr protocol_id protocol = protocol_id::control;
  using manifest_view = basic_manifest<MaxBundles, MaxCPorts>;

  /// Parse `manifest` as Linux would (kernel mode): the CPorts and bundles the AP will know.
  /// Errors: those of parse_manifest() (greybus_manifest_capacity when it holds more bundles or
  /// CPorts than this responder's capacity).
  [[nodiscard]] static result<control_responder> create(const_bytes manifest) noexcept {
    auto parsed = parse_manifest<MaxBundles, MaxCPorts>(manifest, manifest_mode::kernel);
    if (!parsed) return parsed.error();
    control_responder c;
    c.bytes_ = manifest;
    c.manifest_ = *parsed;
    return c;
  }

  /// Answer the Control request `m` (response bit clear). `on_change(cport, event)` is called
  /// when a CPort's connection opens or closes. Returns the response length (0: none).
  /// Errors: no_space (`out` cannot hold the response; the caller may answer GB_OP_OVERFLOW).
  template <typename OnChange>
    requires std::invocable<OnChange&, std::uint16_t, connection_event>
  [[nodiscard]] result<std::size_t> handle(const message& m, bytes out,
                                           OnChange&& on_change) noexcept {
    switch (m.type()) {
      case control::cport_shutdown::type: return answer_cport_shutdown<protocol>(m, out);
      case control::version::type: return answer_version(m, out);
      case control::get_manifest_size::type: {
        const auto req = decode_request<control::get_manifest_size>(m);
        if (!req) return reply_refused(m, req.error(), out);
        control::get_manifest_size_response r{};
        r.size.set(static_cast<std::uint16_t>(bytes_.size()));
        return reply<control::get_manifest_size>(m, r, out);
      }
      case control::get_manifest::type: {
        const auto req = decode_request<control::get_manifest>(m);
        if (!req) return reply_refused(m, req.error(), out);
        return reply<control::get_manifest>(m, byte_payload{bytes_}, out);
      }
      case control::connected::type: return answer_connected(m, out, on_change);
      case control::disconnecting::type: return answer_disconnecting(m, out);
      case control::disconnected::type: return answer_disconnected(m, out, on_change);
      case control::bundle_version::type: {
        const auto req = decode_request<control::bundle_version>(m);
        if (!req) return reply_refused(m, req.error(), out);
        if (bundle_index(req->bundle_id) == no_index) return reply_error(m, status::invalid, out);
        return reply<control::bundle_version>(m, bundle_class_version, out);
      }
      case control::bundle_suspend::type: return answer_bundle_pm<control::bundle_suspend>(m, out);
      case control::bundle_resume::type: return answer_bundle_pm<control::bundle_resume>(m, out);
      case control::bundle_deactivate::type:
        return answer_bundle_pm<control::bundle_deactivate>(m, out);
      case control::bundle_activate::type: return answer_bundle_pm<control::bundle_activate>(m, out);
      case control::intf_suspend_prepare::type:
        return answer_intf_pm<control::intf_suspend_prepare>(m, out);
      case control::intf_deactivate_prepare::type:
        return answer_intf_pm<control::intf_deactivate_prepare>(m, out);
      case control::intf_hibernate_abort::type: {
        const auto req = decode_request<control::intf_hibernate_abort>(m);
        if (!req) return reply_refused(m, req.error(), out);
        return reply<control::intf_hibernate_abort>(m, empty{}, out);
      }
      case control::mode_switch::type: {
        // Unidirectional by definition: a request carrying an id still gets no response
        // (the spec closes the control connection with it).
        if (decode_request<control::mode_switch>(m)) ++mode_switches_;
        return std::size_t{0};
      }
      default: return reply_error(m, status::invalid, out);
    }
  }

  /// The responder-concept form: connection changes are not reported to anyone.
  [[nodiscard]] result<std::size_t> handle(const message& m, bytes out) noexcept {
    return handle(m, out, [](std::uint16_t, connection_event) noexcept {});
  }
  /// Control never initiates a message (only the AP sends requests on it, §3).
  [[nodiscard]] std::optional<std::size_t> next_outgoing(bytes) noexcept { return std::nullopt; }
  void connected() noexcept {}
  void disconnected() noexcept {}

  // ---- state --------------------------------------------------------------------------------

  /// The manifest bytes served by Get Manifest, and what the AP will make of them.
  [[nodiscard]] const_bytes manifest_bytes() const noexcept { return bytes_; }
  [[nodiscard]] const manifest_view& manifest() const noexcept { return manifest_; }

  /// Whether `cport` is the control CPort or a CPort of the manifest.
  [[nodiscard]] bool has_cport(std::uint16_t cport) const noexcept {
    return cport == control::cport_id || cport_index(cport) != no_index;
  }
  /// The manifest protocol of `cport` (control for CPort 0), nullopt when it is not listed.
  [[nodiscard]] std::optional<std::uint8_t> cport_protocol(std::uint16_t cport) const noexcept {
    if (cport == control::cport_id) return protocol_control;
    const std::size_t i = cport_index(cport);
    if (i == no_index) return std::nullopt;
    return manifest_.cports()[i].protocol;
  }
  /// CPort ids are 0 .. cport_count() - 1: the highest manifest CPort id plus one.
  [[nodiscard]] std::uint16_t cport_count() const noexcept {
    std::uint16_t highest = 0;
    for (const manifest_cport& c : manifest_.cports()) highest = std::max(highest, c.id);
    return static_cast<std::uint16_t>(highest + 1);
  }
  /// The connection state of `cport`: CPort 0 is always connected (implicit, §3), a CPort the
  /// manifest lacks always disconnected.
  [[nodiscard]] cport_state state(std::uint16_t cport) const noexcept {
    if (cport == control::cport_id) return cport_state::connected;
    const std::size_t i = cport_index(cport);
    return i == no_index ? cport_state::disconnected : cports_[i];
  }
  /// The power state of bundle `id`, nullopt when the manifest lacks it. Bundles start active
  /// (Linux skips Bundle Activate for interfaces with the NO_BUNDLE_ACTIVATE quirk).
  [[nodiscard]] std::optional<bundle_state> bundle(std::uint8_t id) const noexcept {
    const std::size_t i = bundle_index(id);
    if (i == no_index) return std::nullopt;
    return bundles_[i];
  }
  /// Mode Switch requests received.
  [[nodiscard]] std::uint64_t mode_switches() const noexcept { return mode_switches_; }

  /// Close every connection (the transport went away), telling `on_change` about each.
  template <typename OnChange>
    requires std::invocable<OnChange&, std::uint16_t, connection_event>
  void disconnect_all(OnChange&& on_change) noexcept {
    const auto cports = manifest_.cports();
    for (std::size_t i = 0; i < cports.size(); ++i) {
      if (cports_[i] == cport_state::disconnected) continue;
      cports_[i] = cport_state::disconnected;
      on_change(cports[i].id, connection_event::disconnected);
    }
  }

 private:
  static constexpr std::size_t no_index = static_cast<std::size_t>(-1);

  control_responder() noexcept = default;

  [[nodiscard]] std::size_t cport_index(std::uint16_t id) const noexcept {
    const auto cports = manifest_.cports();
    for (std::size_t i = 0; i < cports.size(); ++i)
      if (cports[i].id == id) return i;
    return no_index;
  }
  [[nodiscard]] std::size_t bundle_index(std::uint8_t id) const noexcept {
    const auto bundles = manifest_.bundles();
    for (std::size_t i = 0; i < bundles.size(); ++i)
      if (bundles[i].id == id) return i;
    return no_index;
  }

  [[nodiscard]] result<std::size_t> answer_version(const message& m, bytes out) noexcept {
    const auto req = decode_request<control::version>(m);
    if (!req) return reply_refused(m, req.error(), out);
    const version_payload ours = control::version_supported;
    const bool offer_lower = req->major < ours.major ||
                             (req->major == ours.major && req->minor < ours.minor);
    return reply<control::version>(m, offer_lower ? *req : ours, out);
  }

  template <typename OnChange>
  [[nodiscard]] result<std::size_t> answer_connected(const message& m, bytes out,
                                                     OnChange& on_change) noexcept {
    const auto req = decode_request<control::connected>(m);
    if (!req) return reply_refused(m, req.error(), out);
    const std::uint16_t cport = req->cport_id.get();
    if (cport == control::cport_id) return reply<control::connected>(m, empty{}, out);
    const std::size_t i = cport_index(cport);
    if (i == no_index) return reply_error(m, status::invalid, out);
    if (cports_[i] != cport_state::disconnected)
      on_change(cport, connection_event::disconnected);
    cports_[i] = cport_state::connected;
    on_change(cport, connection_event::connected);
    return reply<control::connected>(m, empty{}, out);
  }

  [[nodiscard]] result<std::size_t> answer_disconnecting(const message& m, bytes out) noexcept {
    const auto req = decode_request<control::disconnecting>(m);
    if (!req) return reply_refused(m, req.error(), out);
    const std::uint16_t cport = req->cport_id.get();
    if (cport == control::cport_id) return reply<control::disconnecting>(m, empty{}, out);
    const std::size_t i = cport_index(cport);
    if (i == no_index || cports_[i] != cport_state::connected)
      return reply_error(m, status::invalid, out);
    cports_[i] = cport_state::disconnecting;
    return reply<control::disconnecting>(m, empty{}, out);
  }

  template <typename OnChange>
  [[nodiscard]] result<std::size_t> answer_disconnected(const message& m, bytes out,
                                                        OnChange& on_change) noexcept {
    const auto req = decode_request<control::disconnected>(m);
    if (!req) return reply_refused(m, req.error(), out);
    const std::uint16_t cport = req->cport_id.get();
    if (cport == control::cport_id) return reply<control::disconnected>(m, empty{}, out);
    const std::size_t i = cport_index(cport);
    if (i == no_index || cports_[i] == cport_state::disconnected)
      return reply_error(m, status::invalid, out);
    cports_[i] = cport_state::disconnected;
    on_change(cport, connection_event::disconnected);
    return reply<control::disconnected>(m, empty{}, out);
  }

  [[nodiscard]] bool bundle_has_connection(std::size_t bundle) const noexcept {
    const std::uint8_t id = manifest_.bundles()[bundle].id;
    const auto cports = manifest_.cports();
    for (const manifest_cport& c : cports)  // state(): a CPort id two bundles share counts once
      if (c.bundle == id && state(c.id) != cport_state::disconnected) return true;
    return false;
  }

  template <typename Op>
  [[nodiscard]] result<std::size_t> answer_bundle_pm(const message& m, bytes out) noexcept {
    using control::bundle_pm_status;
    const auto req = decode_request<Op>(m);
    if (!req) return reply_refused(m, req.error(), out);
    const std::size_t i = bundle_index(req->bundle_id);
    bundle_pm_status s = bundle_pm_status::ok;
    if (i == no_index) {
      s = bundle_pm_status::inval;
    } else {
      bundle_state& b = bundles_[i];
      // control.rst: each operation names its source state, succeeds without change on its
      // target state and answers NA from the third.
      if constexpr (std::is_same_v<Op, control::bundle_suspend>) {
        s = transition(b, bundle_state::active, bundle_state::suspended, i);
      } else if constexpr (std::is_same_v<Op, control::bundle_resume>) {
        s = transition(b, bundle_state::suspended, bundle_state::active, i);
      } else if constexpr (std::is_same_v<Op, control::bundle_deactivate>) {
        s = transition(b, bundle_state::active, bundle_state::off, i);
      } else {
        s = transition(b, bundle_state::off, bundle_state::active, i);
      }
    }
    control::pm_response r{static_cast<std::uint8_t>(s)};
    return reply<Op>(m, r, out);
  }

  [[nodiscard]] control::bundle_pm_status transition(bundle_state& b, bundle_state from,
                                                     bundle_state to,
                                                     std::size_t bundle) noexcept {
    using control::bundle_pm_status;
    if (b == to) return bundle_pm_status::ok;
    if (b != from) return bundle_pm_status::na;
    // Leaving BUNDLE_ACTIVE needs the bundle's connections closed (control.rst: the AP closes
    // them before Bundle Suspend / Deactivate).
    if (from == bundle_state::active && bundle_has_connection(bundle))
      return bundle_pm_status::busy;
    b = to;
    return bundle_pm_status::ok;
  }

  template <typename Op>
  [[nodiscard]] result<std::size_t> answer_intf_pm(const message& m, bytes out) noexcept {
    const auto req = decode_request<Op>(m);
    if (!req) return reply_refused(m, req.error(), out);
    return reply<Op>(m, control::pm_response{static_cast<std::uint8_t>(control::intf_pm_status::ok)},
                     out);
  }

  const_bytes bytes_{};
  manifest_view manifest_{};
  std::array<cport_state, MaxCPorts> cports_{};
  std::array<bundle_state, MaxBundles> bundles_{};
  std::uint64_t mode_switches_ = 0;
};

}  // namespace greybus::module
VIREO_NAMESPACE_END
