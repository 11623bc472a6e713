# SPDX-License-Identifier: Apache-2.0
# Writes the hand-made seeds of fuzz/corpus/gpio_eventq/ (input format: docs/gpio.md, "Fuzzing
# the device model"). Not part of the build; run it after changing that format:
#   python3 fuzz/seeds/gpio_eventq_seeds.py fuzz/corpus/gpio_eventq
import os, struct, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
PACKED, IRQ, NAMES = 1, 2, 0x20
def ctl(lines=8, irq=True, packed=False, names=False):
    return (PACKED if packed else 0) | (IRQ if irq else 0) | ((lines - 1) << 2) | (NAMES if names else 0)
TYPES = {0:0, 'rising':1, 'falling':2, 'both':3, 'high':4, 'low':5}  # index into the harness table
class S:
    def __init__(s, c): s.b = bytearray([c])
    def op(s, o, *args): s.b.append(o); s.b.extend(args); return s
    def post(s, typ, line, value, framing=0, wmode=0): return s.op(0, typ, line, value, framing | (wmode << 2))
    def run_req(s): return s.op(1)
    def pair(s, line): return s.op(2, line)
    def hostile_pair(s, line, rlen, wvar):
        s.b.append(3); s.b.extend(struct.pack('<H', line)); s.b.append(rlen | (wvar << 2)); return s
    def run_evt(s): return s.op(4)
    def inp(s, line, lvl): return s.op(5, (line << 1) | lvl)
    def poll(s, budget=0x80): return s.op(6, budget)
    def wire(s, a, b): return s.op(7, a | (b << 3))
    def unwire(s, a): return s.op(7, a | 0x80)
    def chip_fault(s, line, on): return s.op(8, (line << 1) | (1 if on else 0))
    def mem_fault(s, evt, n, deny=False): return s.op(9, (1 if evt else 0) | (4 if deny else 0) | (n << 3))
    def mem_clear(s): return s.op(9, 2)
    def requeue(s): return s.op(10)
    def setup(s, line, t): return s.op(11, line | (TYPES[t] << 3))
seeds = {}
def both(name, f, **kw):
    for packed in (False, True):
        s = S(ctl(packed=packed, **kw)); f(s); seeds[f"{name}_{'packed' if packed else 'split'}"] = s.b
both("edge_rising", lambda s: s.setup(1, 'rising').inp(1, 1).poll().requeue().inp(1, 0).poll().inp(1, 1).poll())
both("latched_edge_on_unmask", lambda s: s.setup(2, 'falling').op(1).inp(2, 1).inp(2, 0).poll().run_evt()
     .inp(2,1).inp(2,0).poll().requeue().run_evt())
both("level_retrigger", lambda s: s.setup(3, 'low').run_evt().requeue().run_evt().inp(3, 1).poll().requeue().run_evt().inp(3, 0).poll())
both("level_high_cleared", lambda s: s.setup(4, 'high').inp(4, 1).inp(4, 0).poll().run_evt().inp(4, 1).poll().inp(4,0).poll().requeue().run_evt())
both("starvation", lambda s: [s.setup(0, 'both')] + [s.inp(0, i % 2) for i in range(1, 30)] + [s.poll(), s.requeue(), s.run_evt()])
both("fifo_overflow", lambda s: [s.setup(5, 'both'), s.setup(6, 'rising')] + [s.inp(5 + (i % 2), (i // 2) % 2) for i in range(40)] + [s.poll(3), s.poll()])
both("disable_while_queued", lambda s: s.setup(1, 'both').post(6, 1, 0).run_req().inp(1, 1).poll().requeue().run_evt())
both("direction_none_drops_all", lambda s: s.setup(2, 'rising').setup(3, 'both').inp(2, 1).inp(2, 0).inp(2, 1).post(3, 2, 0).post(3, 3, 0).run_req().pair(2).pair(3).run_evt())
both("type_change_without_disable", lambda s: s.setup(1, 'rising').post(6, 1, 4).run_req().inp(1, 1).poll().requeue().run_evt())
both("duplicate_and_unenabled_pairs", lambda s: s.setup(1, 'rising').pair(1).pair(1).pair(2).pair(9).run_evt().inp(1, 1).poll())
both("hostile_pairs", lambda s: s.setup(0, 'both').hostile_pair(0, 1, 0).hostile_pair(0, 3, 0).hostile_pair(0, 2, 1)
     .hostile_pair(0xffff, 2, 0).hostile_pair(0, 0, 2).hostile_pair(0, 2, 3).hostile_pair(0, 2, 2).run_evt().inp(0, 1).poll())
both("wired_output_edge", lambda s: s.wire(0, 1).setup(1, 'rising').post(5, 0, 1).post(3, 0, 1).run_req().poll()
     .requeue().run_evt().post(5, 0, 0).post(5, 0, 1).run_req().poll())
both("gd6_output_line", lambda s: s.post(3, 2, 1).post(6, 2, 3).post(6, 2, 0).run_req().setup(3, 'high').post(3, 3, 1).run_req())
both("malformed_requests", lambda s: s.post(7, 0, 0).post(0, 0, 0).post(3, 1, 3).post(5, 1, 2).post(6, 1, 5)
     .post(4, 1, 1).post(4, 9, 0).post(4, 1, 0, framing=2).post(4, 1, 0, framing=3).post(4, 1, 0, framing=1)
     .post(4, 1, 0, wmode=1).post(4, 1, 0, wmode=2).post(5, 1, 1, wmode=3).run_req().post(2, 1, 0).run_req())
both("names", lambda s: s.post(1, 0, 0, wmode=4).post(1, 0, 0, wmode=1).post(1, 0, 0).run_req(), names=True)
both("chip_faults", lambda s: s.setup(1, 'both').chip_fault(1, True).inp(1, 1).poll().requeue().run_evt()
     .post(4, 1, 0).post(6, 1, 0).post(3, 1, 0).run_req().chip_fault(1, False).setup(1, 'high').inp(1, 1).poll())
both("memory_faults", lambda s: s.setup(2, 'rising').mem_fault(True, 0).inp(2, 1).poll().mem_clear()
     .requeue().run_evt().mem_fault(False, 2, deny=True).post(4, 2, 0).run_req().mem_clear()
     .mem_fault(True, 1, deny=True).pair(2).hostile_pair(2, 2, 0).run_evt().mem_clear().inp(2, 0).inp(2, 1).poll())
both("no_irq", lambda s: s.pair(1).run_evt().post(6, 1, 1).run_req().inp(1, 1).poll(), irq=False)
both("one_line", lambda s: s.setup(0, 'low').run_evt().requeue().run_evt().inp(0, 1).poll().requeue().run_evt(), lines=1)
both("batched_enable_disable", lambda s: s.post(3, 1, 2).post(6, 1, 3).run_req().pair(1).run_evt().inp(1, 1)
     .post(6, 1, 0).post(6, 1, 3).post(3, 1, 0).run_req().pair(1).run_evt())
seeds["empty"] = bytearray()
for name, b in seeds.items():
    open(os.path.join(out, name), "wb").write(bytes(b))
print(len(seeds), "seeds")
