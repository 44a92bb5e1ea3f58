//! The cost floor: the object's empty programs attached to every hook the sensor
//! uses, so a benchmark can tell the cost of attaching from the cost of the work.

use aya::{
    Ebpf, EbpfLoader,
    programs::{CgroupAttachMode, CgroupSockAddr, RawTracePoint, TracePoint},
};
use sensor::kernel::{
    EBPF_OBJECT, cgroup,
    probes::{self, Hook},
};

/// The loaded floor programs; dropping it detaches them.
pub struct Floor {
    _ebpf: Ebpf,
}

impl Floor {
    /// Loads the empty programs and attaches them where the sensor's go.
    pub fn start() -> anyhow::Result<Self> {
        let mut ebpf = EbpfLoader::new()
            .allow_unsupported_maps()
            .load(EBPF_OBJECT)?;
        let root = std::fs::File::open(
            cgroup::v2_mount().ok_or_else(|| anyhow::anyhow!("no cgroup v2"))?,
        )?;
        {
            let tp: &mut TracePoint = ebpf
                .program_mut("floor_tracepoint")
                .ok_or_else(|| anyhow::anyhow!("no floor_tracepoint"))?
                .try_into()?;
            tp.load()?;
            // A tracepoint where the sensor runs two programs (a rename's exit is
            // an event and a path change) gets one empty program: a program
            // attaches to a tracepoint once.
            let mut attached = std::collections::HashSet::new();
            for probe in probes::available() {
                if let Hook::TracePoint { category, name, .. } = probe.hook
                    && attached.insert((category, name))
                {
                    tp.attach(category, name)?;
                }
            }
        }
        {
            let raw: &mut RawTracePoint = ebpf
                .program_mut("floor_raw_tracepoint")
                .ok_or_else(|| anyhow::anyhow!("no floor_raw_tracepoint"))?
                .try_into()?;
            raw.load()?;
            for probe in probes::available() {
                if let Hook::RawTracePoint { name } = probe.hook {
                    raw.attach(name)?;
                }
            }
        }
        for name in [
            "floor_connect4",
            "floor_connect6",
            "floor_bind4",
            "floor_bind6",
        ] {
            let hook: &mut CgroupSockAddr = ebpf
                .program_mut(name)
                .ok_or_else(|| anyhow::anyhow!("no {name}"))?
                .try_into()?;
            hook.load()?;
            hook.attach(&root, CgroupAttachMode::Single)?;
        }
        Ok(Self { _ebpf: ebpf })
    }

    /// A benchmark's holder of the floor (see [`crate::holder`]): attaches it,
    /// holds it until released, then detaches.
    pub fn hold() -> anyhow::Result<()> {
        let _floor = Self::start()?;
        crate::holder::hold_until_released();
        Ok(())
    }
}
