//! Compiles the LND and Core Lightning gRPC subsets in `proto/` with protox (pure Rust), so a
//! fresh machine needs no `protoc`. Server stubs are generated too: the fake
//! LND and the fake CLN in `tests/` serve them.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/lightning.proto",
        "proto/router.proto",
        "proto/cln/node.proto",
        "proto/cln/primitives.proto",
    ];
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
