//! Compiles the LND gRPC subset in `proto/` with protox (pure Rust), so a
//! fresh machine needs no `protoc`. Server stubs are generated too: the fake
//! LND in `tests/` serves them.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/lightning.proto", "proto/router.proto"];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
