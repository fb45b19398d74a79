//! Measures `HASH` end to end: an in-process ftpshd with the hash plugin,
//! one control connection on 127.0.0.1, a file of SIZE_MIB (default 256)
//! MiB; prints the plugin's throughput next to hashing the same file
//! in-process with sha2 directly (the floor), so the cost of the host
//! callbacks and the jail shows as the difference.
//!
//! `cargo run --release -p ftpsh-plugin-tests --example hash_bench [SIZE_MIB]`

#![allow(clippy::unwrap_used)] // a benchmark: failing loudly is fine

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use ftpsh_core::User;
use ftpsh_daemon::{DaemonConfig, Server, builtin_registry};
use sha2::{Digest, Sha256};

fn main() {
    let mib: usize = std::env::args().nth(1).map_or(256, |a| a.parse().unwrap());
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("big.bin");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut block = vec![0u8; 1 << 20];
        for _ in 0..mib {
            for b in block.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = (x >> 24) as u8;
            }
            f.write_all(&block).unwrap();
        }
    }
    let plugins = ftpsh_plugin_tests::plugin_dir(&["ftpsh-plugin-hash"]);
    let mut config = DaemonConfig::default();
    config
        .server
        .users
        .add(User::from_spec("alice:secret", root.path().to_path_buf()).unwrap());
    let mut registry = builtin_registry();
    ftpsh_plugin_host::register_all(&mut registry, plugins.path()).unwrap();
    let server = Server::bind(config, registry).unwrap().spawn().unwrap();

    let stream = TcpStream::connect(server.local_addr()).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut line = String::new();
    let mut cmd = |c: &str| {
        if !c.is_empty() {
            writer.write_all(format!("{c}\r\n").as_bytes()).unwrap();
        }
        line.clear();
        reader.read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    };
    cmd("");
    cmd("USER alice");
    cmd("PASS secret");
    // Warm the page cache so both runs read from memory.
    let mut local = Vec::new();
    std::fs::File::open(&path)
        .unwrap()
        .read_to_end(&mut local)
        .unwrap();

    let t = Instant::now();
    let reply = cmd("HASH big.bin");
    let plugin = t.elapsed();

    let t = Instant::now();
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(&path).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let direct = t.elapsed();
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert!(reply.contains(&hex), "{reply}");
    let rate = |d: std::time::Duration| mib as f64 / d.as_secs_f64();
    println!("{reply}");
    println!(
        "HASH via plugin over FTP: {mib} MiB in {:.3} s = {:.0} MiB/s",
        plugin.as_secs_f64(),
        rate(plugin)
    );
    println!(
        "sha2 in-process, 64 KiB reads: {mib} MiB in {:.3} s = {:.0} MiB/s",
        direct.as_secs_f64(),
        rate(direct)
    );
    server.shutdown().unwrap();
}
