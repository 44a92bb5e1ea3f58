//! The process, container and pod context of an event, as JSON fields of the
//! catalogue, added to the event's own.

use serde_json::{Map, Value};

use crate::{
    context::{Who, kubelet::WorkloadKind, process::Process},
    event::{clock::BootClock, facts::cap_names},
    fields as f,
};

/// `proc.cmdline` as Falco builds it: the name, then the arguments after `argv[0]`.
pub fn cmdline(name: &str, argv: &[String]) -> String {
    let mut line = String::new();
    write_cmdline(&mut line, name, argv);
    line
}

/// [`cmdline`] into a reused buffer (the rules engine allocates nothing).
pub fn write_cmdline(out: &mut String, name: &str, argv: &[String]) {
    out.push_str(name);
    for arg in argv.get(1..).unwrap_or_default() {
        out.push(' ');
        out.push_str(arg);
    }
}

/// `proc.args`: the arguments after `argv[0]`, joined by spaces, into `out`.
pub fn write_args(out: &mut String, argv: &[String]) {
    for (i, arg) in argv.get(1..).unwrap_or_default().iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(arg);
    }
}

/// Adds `who`'s fields to an event's JSON object. Fields the event itself
/// reported (an exec's own path and arguments) are kept.
pub fn add(obj: &mut Map<String, Value>, who: &Who<'_>, clock: &BootClock, ticks_per_second: u64) {
    obj.insert(f::PROC_EXEC_ID.into(), who.exec_id.clone().into());
    if let Some(id) = &who.parent_exec_id {
        obj.insert(f::PROC_PEXEC_ID.into(), id.clone().into());
    }
    if let Some(p) = who.process {
        process(obj, p, clock, ticks_per_second);
    }
    if let Some(parent) = who.ancestors.first() {
        obj.insert(f::PROC_PNAME.into(), parent.comm.clone().into());
        obj.insert(f::PROC_PEXE.into(), argv0(parent).into());
        obj.insert(f::PROC_PEXEPATH.into(), (*parent.exepath).into());
        obj.insert(
            f::PROC_PCMDLINE.into(),
            cmdline(&parent.comm, &parent.args).into(),
        );
    }
    let own = who.process.into_iter();
    let chain = || own.clone().chain(who.ancestors.iter().copied());
    obj.insert(
        f::PROC_ANAME.into(),
        chain().map(|p| Value::from(p.comm.clone())).collect(),
    );
    obj.insert(
        f::PROC_AEXEPATH.into(),
        chain().map(|p| Value::from(&*p.exepath)).collect(),
    );
    obj.insert(
        f::PROC_AEXE.into(),
        chain().map(|p| Value::from(argv0(p))).collect(),
    );
    if let Some(leader) = who.session_leader {
        obj.insert(f::PROC_SNAME.into(), leader.comm.clone().into());
    }
    if let Some(changed) = who.is_exe_changed() {
        obj.insert(f::PROC_IS_EXE_CHANGED.into(), changed.into());
    }
    if let Some(start) = who.container_start_ns {
        obj.insert(f::CONTAINER_START_TS.into(), start.into());
    }
    container(obj, who);
    users(obj, who);
}

/// `proc.exe`: the process's argv[0], empty when it has none.
fn argv0(p: &Process) -> &str {
    p.args.first().map_or("", String::as_str)
}

/// The exec facts: stdio types, capability sets (names built here, for output
/// only), session id.
fn facts(obj: &mut Map<String, Value>, p: &Process) {
    let f = &p.facts;
    for (key, ty) in [f::PROC_STDIN_TYPE, f::PROC_STDOUT_TYPE, f::PROC_STDERR_TYPE]
        .into_iter()
        .zip(f.stdio)
    {
        obj.insert(key.into(), ty.name().into());
    }
    if let Some(caps) = f.caps {
        obj.insert(
            f::THREAD_CAP_EFFECTIVE.into(),
            cap_names(caps.effective).into(),
        );
        obj.insert(
            f::THREAD_CAP_PERMITTED.into(),
            cap_names(caps.permitted).into(),
        );
        obj.insert(
            f::THREAD_CAP_INHERITABLE.into(),
            cap_names(caps.inheritable).into(),
        );
    }
    if let Some(sid) = f.sid {
        obj.insert(f::PROC_SID.into(), sid.into());
    }
}

fn process(obj: &mut Map<String, Value>, p: &Process, clock: &BootClock, ticks_per_second: u64) {
    let start_ns = p
        .start_ticks
        .saturating_mul(1_000_000_000 / ticks_per_second.clamp(1, 1_000_000_000));
    obj.insert(f::PROC_PID_TS.into(), clock.epoch_ns(start_ns).into());
    if !obj.contains_key(f::PROC_EXEPATH) {
        obj.insert(f::PROC_EXEPATH.into(), (*p.exepath).into());
        let args = p.args.get(1..).unwrap_or_default().join(" ");
        obj.insert(
            f::PROC_EXE.into(),
            p.args.first().cloned().unwrap_or_default().into(),
        );
        obj.insert(f::PROC_ARGS.into(), args.into());
        obj.insert(f::PROC_CMDLINE.into(), cmdline(&p.comm, &p.args).into());
    }
    if let Some(vpid) = p.vpid {
        obj.insert(f::PROC_VPID.into(), vpid.into());
    }
    if let Some(cwd) = &p.cwd {
        obj.insert(f::PROC_CWD.into(), (**cwd).into());
    }
    obj.insert(f::PROC_TTY.into(), p.tty.into());
    obj.insert(
        f::USER_LOGINUID.into(),
        p.loginuid.map_or(-1, i64::from).into(),
    );
    if p.container.is_some() {
        obj.insert(f::PROC_CONTAINER_ENTRY.into(), p.entry.name().into());
    }
    facts(obj, p);
}

fn container(obj: &mut Map<String, Value>, who: &Who<'_>) {
    let Some(c) = &who.container else {
        for key in [f::CONTAINER_ID, f::CONTAINER_FULL_ID, f::CONTAINER_NAME] {
            obj.insert(key.into(), "host".into());
        }
        return;
    };
    obj.insert(
        f::CONTAINER_ID.into(),
        c.id.get(..12).unwrap_or(&c.id).into(),
    );
    obj.insert(f::CONTAINER_FULL_ID.into(), c.id.clone().into());
    let listed = who.pod_container.as_ref();
    let runtime = c
        .runtime
        .map(|r| r.name().to_owned())
        .or_else(|| listed.and_then(|l| l.container().runtime.clone()));
    if let Some(runtime) = runtime {
        obj.insert(f::CONTAINER_TYPE.into(), runtime.into());
    }
    if let Some(uid) = &c.pod_uid {
        obj.insert(f::K8S_POD_UID.into(), uid.clone().into());
    }
    let pod = listed.map(|l| l.pod()).or(who.pod.as_ref());
    if let Some(l) = listed {
        let info = l.container();
        obj.insert(f::CONTAINER_NAME.into(), info.name.clone().into());
        obj.insert(f::CONTAINER_IMAGE.into(), info.image.clone().into());
        obj.insert(
            f::CONTAINER_IMAGE_REPOSITORY.into(),
            info.image_repository.clone().into(),
        );
        if let Some(tag) = &info.image_tag {
            obj.insert(f::CONTAINER_IMAGE_TAG.into(), tag.clone().into());
        }
        if let Some(digest) = &info.image_digest {
            obj.insert(f::CONTAINER_IMAGE_DIGEST.into(), digest.clone().into());
        }
        obj.insert(f::CONTAINER_PRIVILEGED.into(), info.privileged.into());
    }
    let Some(pod) = pod else { return };
    obj.insert(f::K8S_POD_UID.into(), pod.uid.clone().into());
    obj.insert(f::K8S_NS_NAME.into(), pod.namespace.clone().into());
    obj.insert(f::K8S_POD_NAME.into(), pod.name.clone().into());
    let labels: Map<String, Value> = pod
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect();
    obj.insert(f::K8S_POD_LABELS.into(), labels.into());
    if let Some(account) = &pod.service_account {
        obj.insert(f::K8S_POD_SERVICE_ACCOUNT.into(), account.clone().into());
    }
    if let Some(node) = &pod.node_name {
        obj.insert(f::K8S_NODE_NAME.into(), node.clone().into());
    }
    if let Some(w) = &pod.workload {
        obj.insert(f::K8S_WORKLOAD_KIND.into(), w.kind.as_str().into());
        obj.insert(f::K8S_WORKLOAD_NAME.into(), w.name.clone().into());
        if let Some(rs) = &w.replicaset {
            obj.insert(f::K8S_RS_NAME.into(), rs.clone().into());
        }
        if let Some(job) = &w.job {
            obj.insert(f::K8S_JOB_NAME.into(), job.clone().into());
        }
        if w.kind == WorkloadKind::Deployment {
            obj.insert(f::K8S_DEPLOYMENT_NAME.into(), w.name.clone().into());
        }
    }
}

fn users(obj: &mut Map<String, Value>, who: &Who<'_>) {
    let names = [
        (f::USER_NAME, &who.user_name),
        (f::USER_HOMEDIR, &who.user_homedir),
        (f::USER_SHELL, &who.user_shell),
        (f::GROUP_NAME, &who.group_name),
        (f::USER_LOGINNAME, &who.user_loginname),
    ];
    for (key, name) in names {
        if let Some(name) = name {
            obj.insert(key.into(), (**name).into());
        }
    }
}
