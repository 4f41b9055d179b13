//! Device liveness on a real port: DPDK timers armed on the main lcore run
//! when it calls `timers_manage` (the ENA watchdog's path), and reset and
//! link events raised through ethdev's own callback dispatch (the path a
//! PMD takes) reach the registered `DeviceEvents`.
//!
//! One test function: EAL starts once per process.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU32, Ordering};

use tollgate_dataplane::dpdk::{
    raise_event, timers_init, timers_manage, DeviceEvent, DeviceEvents, Eal, Port,
};
use tollgate_ffi as ffi;

mod common;

static FIRED: AtomicU32 = AtomicU32::new(0);

unsafe extern "C" fn count_fire(_timer: *mut ffi::rte_timer, _arg: *mut c_void) {
    FIRED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn timers_and_device_events() {
    let (args, _runtime_dir) = common::no_huge_args("events", &["--vdev=net_ring0", "-l", "0"]);
    let _eal = Eal::init(&args).expect("EAL starts with --no-huge");

    timers_init().expect("timer subsystem starts");
    timers_init().expect("a second init is harmless");

    // A timer armed on this lcore, due at once, fires only when this lcore
    // manages its timers.
    let timer: &'static mut ffi::rte_timer = Box::leak(Box::default());
    // SAFETY: the timer is 'static and initialised before use; count_fire
    // only touches an atomic.
    unsafe {
        ffi::rte_timer_init(timer);
        let lcore = ffi::rte_lcore_id();
        assert_eq!(
            ffi::rte_timer_reset(
                timer,
                0,
                ffi::SINGLE,
                lcore,
                Some(count_fire),
                std::ptr::null_mut()
            ),
            0
        );
    }
    assert_eq!(
        FIRED.load(Ordering::SeqCst),
        0,
        "nothing runs the timer yet"
    );
    timers_manage().expect("rte_timer_manage");
    assert_eq!(
        FIRED.load(Ordering::SeqCst),
        1,
        "timers_manage ran the due timer"
    );
    timers_manage().expect("rte_timer_manage");
    assert_eq!(
        FIRED.load(Ordering::SeqCst),
        1,
        "a single-shot timer fires once"
    );

    let port = Port::by_name("net_ring0").expect("net_ring0 exists");
    let events = DeviceEvents::register(&port).expect("callbacks register");
    assert_eq!(events.take_resets(), 0);
    assert_eq!(events.take_link_changes(), 0);

    raise_event("net_ring0", DeviceEvent::Reset).expect("reset event dispatched");
    raise_event("net_ring0", DeviceEvent::Reset).expect("reset event dispatched");
    raise_event("net_ring0", DeviceEvent::LinkChange).expect("link event dispatched");
    assert_eq!(events.take_resets(), 2, "both resets counted");
    assert_eq!(events.take_resets(), 0, "taking clears the count");
    assert_eq!(events.take_link_changes(), 1, "link change counted apart");

    let err = raise_event("net_nosuch0", DeviceEvent::Reset).unwrap_err();
    assert!(err.to_string().contains("net_nosuch0"), "{err}");
}
