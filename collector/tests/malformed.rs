//! Bytes that are not a protobuf message, sent as an ingest frame: the stream
//! gets an error, nothing is stored, and the collector goes on serving other
//! clients and the same node on a new stream.

mod common;

use bytes::BufMut as _;
use common::{Ingest, Running, batch, finding};
use prost::Message as _;
use sensor_proto::v1::IngestAck;
use tonic::{
    Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::http::uri::PathAndQuery,
};

/// Sends its items as they are; reads acknowledgements.
struct RawCodec;

struct RawEncoder;

struct AckDecoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for AckDecoder {
    type Item = IngestAck;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<IngestAck>, Status> {
        IngestAck::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = IngestAck;
    type Encoder = RawEncoder;
    type Decoder = AckDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> AckDecoder {
        AckDecoder
    }
}

#[tokio::test]
async fn a_frame_that_is_not_a_message_is_refused_and_others_are_still_served() {
    let server = Running::start(|_| {}).await;
    let channel = common::connect(server.addr, server.pki.client_tls(Some("node-a")))
        .await
        .expect("connects");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    // A field tag with wire type 7, which does not exist, then noise.
    let garbage = vec![0x0f, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02, 0x03];
    let request = tonic::Request::new(tokio_stream::iter(vec![garbage]));
    let outcome = match grpc
        .streaming(
            request,
            PathAndQuery::from_static("/sensor.v1.Collector/Ingest"),
            RawCodec,
        )
        .await
    {
        Ok(response) => response.into_inner().message().await,
        Err(status) => Err(status),
    };
    let status = outcome.expect_err("a frame that does not decode is refused");
    assert_ne!(status.code(), tonic::Code::Ok, "{status:?}");
    assert!(common::stored_ids(&server.db).is_empty());

    // The same node on a new stream, and another node, are served.
    for node in ["node-a", "node-b"] {
        let mut client = server.client(node).await;
        let mut ingest = Ingest::open(&mut client).await.expect("opens");
        let ack = ingest
            .send(batch(node, 1, vec![finding("R", "sh")]))
            .await
            .expect("acked");
        assert_eq!(ack.map(|a| a.sequence), Some(1), "{node}");
    }
    assert_eq!(common::stored_ids(&server.db).len(), 2);
    server.stop().await;
}
