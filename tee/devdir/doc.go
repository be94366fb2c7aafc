// Package devdir is the device directory as every process of an emulated
// device sees it: its layout (DIR/sock, DIR/data/<role>, DIR/rpmb/<role>),
// the owner-only, link-refusing checks and creation of its directories and
// files, the Unix sockets bound in it (Listen: mode 0600, never over an
// existing file, unlinked only while still the file bound), file identity
// by device, inode and change time, and SO_PEERCRED checks on accepted
// connections (docs/protocol.md §7.1, §7.7).
//
// It holds no secret and does no cryptography, so the REE side — the HAL,
// the launcher, the tools — imports it as the TA processes do, without
// linking the secure world's tee/boot, tee/store or tee/taproc.
package devdir
