//! The `sensor.v1.Collector` service: each RPC checks who is calling and what
//! it asks, and hands the work to the module that does it.

use std::sync::Arc;

use sensor_proto::v1::{
    IngestAck, IngestBatch, QueryRequest, QueryResponse, StatsRequest, StatsResponse, TailRequest,
    collector_server::Collector,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{State, identity, ingest, query, status, tail};

/// The service, shared by every connection.
pub(super) struct Service {
    pub(super) state: Arc<State>,
}

#[tonic::async_trait]
impl Collector for Service {
    type IngestStream = ReceiverStream<Result<IngestAck, Status>>;

    async fn ingest(
        &self,
        request: Request<Streaming<IngestBatch>>,
    ) -> Result<Response<Self::IngestStream>, Status> {
        // The node comes from the verified certificate, never from the batch.
        let node = identity::node_name(request.peer_certs())?;
        let (tx, rx) = mpsc::channel(ingest::WINDOW + 1);
        tokio::spawn(ingest::run(
            self.state.clone(),
            node,
            request.into_inner(),
            tx,
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn query(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<QueryResponse>, Status> {
        let q = query::query(request.get_ref())?;
        let store = self.state.store.clone();
        let page = status::blocking(move || store.query(&q)).await?;
        Ok(Response::new(query::page(page)))
    }

    type TailStream = tail::Stream;

    async fn tail(
        &self,
        request: Request<TailRequest>,
    ) -> Result<Response<Self::TailStream>, Status> {
        let filter = query::parse_filter(&request.get_ref().filter)?;
        let stream = tail::start(self.state.clone(), filter).await?;
        Ok(Response::new(stream))
    }

    async fn stats(
        &self,
        request: Request<StatsRequest>,
    ) -> Result<Response<StatsResponse>, Status> {
        let s = query::stats(request.get_ref())?;
        let store = self.state.store.clone();
        let buckets =
            status::blocking(move || store.stats(s.by, s.filter.as_ref(), s.range, s.bucket))
                .await?;
        Ok(Response::new(query::buckets(buckets)))
    }
}
