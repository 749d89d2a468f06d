//! Test harness for the runner: a busybox test image, unique space ids, cleanup by label.
