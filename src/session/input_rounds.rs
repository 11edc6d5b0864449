//! Requests that a server of protocol 2026-07-28 answers with `input_required` (SEP-2322):
//! the client answers the server's input requests through its [`Handlers`](crate::Handlers)
//! and sends the request again with the answers and the server's request state, until the
//! server gives the real result.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, ClientRequest, ErrorData, GetPromptRequest,
    GetPromptRequestParams, InputRequest, InputRequests, InputRequiredResult, InputResponses,
    ReadResourceRequest, ReadResourceRequestParams,
};

use crate::error::Error;
use crate::runtime::jobs::Jobs;
use crate::session::hooks::Hooks;

/// How many `input_required` answers one request may get before it fails, as in rmcp.
pub(crate) const MAX_ROUNDS: usize = rmcp::model::DEFAULT_MRTR_MAX_ROUNDS;

/// A request that may be answered with `input_required`, and sent again with the answers.
pub(crate) trait Rounds: Clone + Send + 'static {
    /// The request with these parameters.
    fn request(&self) -> ClientRequest;
    /// Sets what the next round carries: the answers, and the server's state echoed back.
    fn answer(&mut self, responses: Option<InputResponses>, state: Option<String>);
}

macro_rules! rounds {
    ($params:ty, $request:ident, $variant:ident) => {
        impl Rounds for $params {
            fn request(&self) -> ClientRequest {
                ClientRequest::$variant($request::new(self.clone()))
            }

            fn answer(&mut self, responses: Option<InputResponses>, state: Option<String>) {
                self.input_responses = responses;
                self.request_state = state;
            }
        }
    };
}

rounds!(CallToolRequestParams, CallToolRequest, CallToolRequest);
rounds!(GetPromptRequestParams, GetPromptRequest, GetPromptRequest);
rounds!(
    ReadResourceRequestParams,
    ReadResourceRequest,
    ReadResourceRequest
);

/// Where one request stands in its rounds.
#[derive(Debug, Default)]
pub(crate) struct RoundsSoFar {
    /// Rounds answered so far.
    rounds: usize,
    /// Rounds in a row that asked for nothing but carried state (the server shedding load).
    state_only: usize,
}

impl RoundsSoFar {
    /// Answers `result`'s input requests with the client's handlers and sets the next round
    /// of `params`. Errors when the server asked too often, asked for nothing, or a handler
    /// failed.
    pub(crate) async fn answer<P: Rounds>(
        &mut self,
        hooks: &Hooks,
        jobs: &Arc<Jobs>,
        tool: Option<&str>,
        result: InputRequiredResult,
        params: &mut P,
    ) -> Result<(), Error> {
        let protocol = |message: String| Error::Protocol {
            server: hooks.server.clone(),
            message,
            source: None,
        };
        self.rounds += 1;
        if self.rounds >= MAX_ROUNDS {
            return Err(protocol(format!(
                "the server asked for input {} times without giving a result",
                self.rounds
            )));
        }
        let requests = result.input_requests.unwrap_or_default();
        if requests.is_empty() {
            if result.request_state.is_none() {
                return Err(protocol(
                    "the server answered input_required with neither input requests nor \
                     request state"
                        .to_owned(),
                ));
            }
            // Load shedding: back off a little before asking again, as rmcp does.
            let millis = (50u64 << self.state_only.min(3)).min(250);
            crate::runtime::sleep(Duration::from_millis(millis)).await;
            self.state_only += 1;
        } else {
            self.state_only = 0;
        }
        let responses = fulfil(hooks, jobs, tool, requests).await?;
        params.answer(
            (!responses.is_empty()).then_some(responses),
            result.request_state,
        );
        Ok(())
    }
}

/// Answers every input request at once, each by its handler run as a job.
async fn fulfil(
    hooks: &Hooks,
    jobs: &Arc<Jobs>,
    tool: Option<&str>,
    requests: InputRequests,
) -> Result<InputResponses, Error> {
    let answers = requests.into_iter().map(|(key, request)| async move {
        let (method, answer) = match request {
            InputRequest::Elicitation(request) => {
                let method = "elicitation/create";
                let handler = hooks.handlers.elicitation.as_ref();
                let answer = hooks.answer(jobs, handler, request.params, method).await;
                (method, answer.and_then(encode))
            }
            InputRequest::CreateMessage(request) => {
                let method = "sampling/createMessage";
                let handler = hooks.handlers.sampling.as_ref();
                let answer = hooks.answer(jobs, handler, request.params, method).await;
                (method, answer.and_then(encode))
            }
            InputRequest::ListRoots(_) => {
                let method = "roots/list";
                let handler = hooks.handlers.roots.as_ref();
                let answer = hooks.answer(jobs, handler, (), method).await;
                (method, answer.and_then(encode))
            }
            other => {
                let method = "an unknown input request";
                let error = ErrorData::invalid_request(
                    format!("this client cannot answer {other:?}"),
                    None,
                );
                (method, Err(error))
            }
        };
        answer
            .map(|answer| (key, answer))
            .map_err(|error| Error::Handler {
                server: hooks.server.clone(),
                tool: tool.map(str::to_owned),
                method,
                code: error.code.0,
                message: error.message.into_owned(),
            })
    });
    futures::future::try_join_all(answers)
        .await
        .map(|answers| answers.into_iter().collect())
}

/// A handler's answer as the JSON the next round carries.
fn encode<T: serde::Serialize>(answer: T) -> Result<serde_json::Value, ErrorData> {
    serde_json::to_value(answer).map_err(|error| {
        ErrorData::internal_error(format!("cannot encode the answer: {error}"), None)
    })
}
