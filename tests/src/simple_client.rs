//! A Postgres client that speaks only what Grafana's PostgreSQL data source (and psql's
//! describe commands) speak: protocol 3.0 start-up without SSL or password, then simple
//! queries, whose answers arrive as text with a type OID per column. tokio-postgres' simple
//! queries hide the OIDs, which decide how Grafana reads each column and are part of the
//! Postgres shape of an answer.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A Postgres connection that speaks only what Grafana's PostgreSQL data source speaks:
/// protocol 3.0 start-up without SSL (`sslmode: disable`) or password, then simple queries,
/// whose answers arrive as text with a type OID per column. tokio-postgres' simple queries
/// hide the OIDs, which decide how Grafana reads each column.
pub struct SimpleQueryClient {
    stream: TcpStream,
}

/// A column of a RowDescription.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub type_oid: u32,
}

/// The answer to one simple query of one statement.
pub struct Answer {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// An ErrorResponse's SQLSTATE and message.
#[derive(Debug)]
pub struct ServerError {
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ERROR {}: {}", self.code, self.message)
    }
}

impl SimpleQueryClient {
    pub async fn connect(port: u16) -> SimpleQueryClient {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("connecting to 127.0.0.1:{port}: {e}"));
        let mut connection = SimpleQueryClient { stream };
        let mut startup = 196_608_i32.to_be_bytes().to_vec();
        for (key, value) in [("user", "root"), ("database", "dev")] {
            for text in [key, value] {
                startup.extend_from_slice(text.as_bytes());
                startup.push(0);
            }
        }
        startup.push(0);
        connection.send(None, &startup).await;
        loop {
            let (tag, body) = connection.receive().await;
            match tag {
                b'R' => assert_eq!(
                    i32::from_be_bytes(body[..4].try_into().unwrap()),
                    0,
                    "the server asks for a password"
                ),
                b'E' => panic!("start-up refused: {}", server_error(&body)),
                b'Z' => return connection,
                _ => {}
            }
        }
    }

    /// Sends `sql` as one Query message and reads the answer up to ReadyForQuery.
    pub async fn query(&mut self, sql: &str) -> Result<Answer, ServerError> {
        let mut body = sql.as_bytes().to_vec();
        body.push(0);
        self.send(Some(b'Q'), &body).await;
        let mut answer = Answer {
            columns: vec![],
            rows: vec![],
        };
        let mut error = None;
        loop {
            let (tag, body) = self.receive().await;
            match tag {
                b'T' => answer.columns = row_description(&body),
                b'D' => answer.rows.push(data_row(&body)),
                b'E' => error = Some(server_error(&body)),
                b'Z' => break,
                // CommandComplete, EmptyQueryResponse, notices, parameter changes.
                _ => {}
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(answer),
        }
    }

    async fn send(&mut self, tag: Option<u8>, body: &[u8]) {
        let mut message = Vec::with_capacity(body.len() + 5);
        message.extend(tag);
        message.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        message.extend_from_slice(body);
        self.stream
            .write_all(&message)
            .await
            .expect("the server reads");
    }

    async fn receive(&mut self) -> (u8, Vec<u8>) {
        let mut header = [0u8; 5];
        self.stream
            .read_exact(&mut header)
            .await
            .expect("the server answers");
        let len = i32::from_be_bytes(header[1..].try_into().unwrap()) as usize - 4;
        let mut body = vec![0u8; len];
        self.stream
            .read_exact(&mut body)
            .await
            .expect("the server sends the whole message");
        (header[0], body)
    }
}

/// Reads the big-endian integers and NUL-terminated strings of a message body.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        head
    }

    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().unwrap())
    }

    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }

    fn cstr(&mut self) -> String {
        let end = self.bytes.iter().position(|b| *b == 0).expect("a NUL");
        let text = String::from_utf8_lossy(&self.bytes[..end]).into_owned();
        self.bytes = &self.bytes[end + 1..];
        text
    }
}

fn row_description(body: &[u8]) -> Vec<Column> {
    let mut r = Reader { bytes: body };
    let count = r.i16();
    (0..count)
        .map(|_| {
            let name = r.cstr();
            let _table = r.i32();
            let _attribute = r.i16();
            let type_oid = r.i32() as u32;
            let _size = r.i16();
            let _modifier = r.i32();
            let format = r.i16();
            assert_eq!(format, 0, "{name}: simple queries answer in text");
            Column { name, type_oid }
        })
        .collect()
}

fn data_row(body: &[u8]) -> Vec<Option<String>> {
    let mut r = Reader { bytes: body };
    let count = r.i16();
    (0..count)
        .map(|_| {
            let len = r.i32();
            (len >= 0).then(|| String::from_utf8_lossy(r.take(len as usize)).into_owned())
        })
        .collect()
}

fn server_error(body: &[u8]) -> ServerError {
    let mut r = Reader { bytes: body };
    let mut error = ServerError {
        code: String::new(),
        message: String::new(),
    };
    while r.bytes.first().is_some_and(|b| *b != 0) {
        let field = r.take(1)[0];
        let value = r.cstr();
        match field {
            b'C' => error.code = value,
            b'M' => error.message = value,
            _ => {}
        }
    }
    error
}

// ---------------------------------------------------------------------------------------------
// Every panel over the wire
// ---------------------------------------------------------------------------------------------
