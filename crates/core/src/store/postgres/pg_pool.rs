//! PostgreSQL's pool and connection handling: building the pool (and learning whether a pooler
//! is in between), acquiring with the wait recorded, and running an operation under its
//! client-side deadline (in a transaction of its own behind a pooler).

use super::*;

impl PgBackend {
    /// Builds the pool without connecting: a database that is down shows as errors on use, so
    /// the dashboard can start and wait for it.
    pub(crate) fn connect(
        url: &SecretUrl,
        settings: &PoolSettings,
        metrics: Arc<PoolMetrics>,
    ) -> Result<Self, StoreError> {
        // Named for what we are (`flashsale serve`), so an operator reading `pg_stat_activity`
        // (or `flashsale activity`) can tell our backends apart; a name the URL gives wins. A
        // pooler passes it on: PgBouncer sends it to the server connection it links us to.
        let parse = |url: &SecretUrl| {
            let options = PgConnectOptions::from_str(url.expose())
                .map_err(|_| StoreError::Other(format!("invalid PostgreSQL URL {url}")))?;
            let options = pg_loopback::transport(options, url.expose());
            Ok::<_, StoreError>(match options.get_application_name() {
                Some(_) => options,
                None => options.application_name(&settings.application_name),
            })
        };
        let pooled_options = parse(url)?.extra_float_digits(None);
        let direct = |options: PgConnectOptions| {
            options.extra_float_digits(2).options([
                (
                    "statement_timeout",
                    settings.statement_timeout.as_millis().to_string(),
                ),
                // Timestamps are stored without a zone; ours are UTC.
                ("TimeZone", "UTC".to_string()),
            ])
        };
        let listen_options = match &settings.listen_url {
            Some(listen) => direct(parse(listen)?),
            None => direct(pooled_options.clone()),
        };
        let pooler = Arc::new(PoolerState::default());
        let leases = Arc::new(pg_leases::Leases::new());
        let schema = Arc::clone(&leases);
        let expected_timeout = settings.statement_timeout.as_millis().to_string();
        let learnt = Arc::clone(&pooler);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(0)
            .acquire_timeout(settings.acquire_timeout)
            .idle_timeout(Duration::from_secs(30))
            .test_before_acquire(false)
            .after_connect(move |conn, _| {
                let (learnt, expected) = (Arc::clone(&learnt), expected_timeout.clone());
                let schema = Arc::clone(&schema);
                Box::pin(async move {
                    // Each new connection asks, so a store opened before `db init` learns it
                    // once its connections renew (and migrating tells it at once).
                    let row = conn.fetch_one(pg_leases::SCHEMA_HAS_LEASES).await?;
                    schema.learn(sqlx::Row::try_get(&row, 0)?);
                    if learnt.route() == Route::Direct {
                        // A pooler told to ignore `options` accepts them and drops them: the
                        // session then lacks the timeout we asked for.
                        let row = conn.fetch_one(pg_route::SESSION_STATEMENT_TIMEOUT).await?;
                        let shown: String = sqlx::Row::try_get(&row, 0)?;
                        if shown != expected && learnt.learn_pooled() {
                            tracing::warn!(
                                "PostgreSQL dropped our session settings (statement_timeout is \
                                 {shown} ms, not {expected}): a transaction pooler is in between; \
                                 settings go per transaction from now on"
                            );
                        }
                    }
                    Ok(())
                })
            })
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(direct(pooled_options.clone()));
        Ok(Self {
            pool,
            metrics,
            statement_timeout: settings.statement_timeout,
            pooler,
            pooled_options,
            listen_options,
            leases,
            acquire_timeout: settings.acquire_timeout,
            max_connections: settings.max_connections,
            diagnosis: Arc::default(),
        })
    }

    /// The listener that hears restocks made by other processes, not started yet.
    pub(crate) fn restock_watch(&self, listen_url_given: bool) -> RestockWatch {
        RestockWatch::new(
            self.listen_options.clone(),
            Arc::clone(&self.pooler),
            listen_url_given,
        )
    }

    /// How this store's statements reach the server, as far as it knows now.
    pub(super) fn route(&self) -> Route {
        self.pooler.route()
    }

    /// The client-side bound of an operation of `statements` statements: each may run up to
    /// the statement timeout on the server; one second of network slack on top. The server's
    /// `statement_timeout` cannot fire for a query that never reaches it (a stalled network, a
    /// black-holed connection): without this, such a purchase would wait for ever.
    pub(super) fn deadline_for(&self, statements: u32) -> Duration {
        self.statement_timeout * statements + Duration::from_secs(1)
    }

    /// This store's claims on the products it sells for other processes (`store::forward`),
    /// under the holder name of its leases.
    pub(crate) fn seller_claims(&self) -> super::SellerClaims {
        super::SellerClaims::new(
            self.pool.clone(),
            self.leases.holder().to_string(),
            self.deadline_for(1),
        )
    }

    /// The longest a batched purchase may take here: its wait for a connection and its batch.
    pub(crate) fn purchase_deadline(&self) -> Duration {
        self.acquire_timeout + self.deadline_for(3)
    }

    /// A pooled connection, its wait recorded for the pool pane (every operation's: purchases,
    /// reads and restocks share the pool, so they share its figures). A pooler refusing our
    /// startup parameters is learnt here: the pool then connects without them, and the
    /// acquire is tried again.
    pub(super) async fn acquire(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        let wait = self.metrics.start_wait();
        let mut result = self.pool.acquire().await;
        if let Err(e) = &result
            && let Some(parameter) = pg_route::refused_startup_parameter(e)
        {
            self.pool.set_connect_options(self.pooled_options.clone());
            if self.pooler.learn_pooled() {
                tracing::warn!(
                    "the server refused startup parameter {parameter}: a transaction pooler is \
                     in between; connecting without it, settings per transaction"
                );
            }
            result = self.pool.acquire().await;
        }
        wait.finish(matches!(result, Err(sqlx::Error::PoolTimedOut)));
        match result {
            Ok(conn) => Ok(conn),
            Err(e) => Err(self.acquire_error(e).await),
        }
    }

    /// A connection known to be alive, for a batch: a ping first (one short round trip, spread
    /// over the whole batch). A pooled connection whose backend was closed while it sat idle
    /// (a restart, `pg_terminate_backend`) would otherwise fail every purchase of the batch at
    /// once; a dead one is dropped and the next one tried.
    pub(super) async fn acquire_live(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        for _ in 0..3 {
            let mut conn = self.acquire().await?;
            match tokio::time::timeout(self.deadline_for(1), conn.ping()).await {
                Ok(Ok(())) => return Ok(conn),
                // Not back into the pool: it is dead.
                Ok(Err(_)) => drop(conn.detach()),
                // Stalled: closed, never reused.
                Err(_) => conn.close_on_drop(),
            }
        }
        self.acquire().await
    }

    /// Runs `op` on `conn` within the deadline of `statements` statements. A connection that
    /// ran past it is in an unknown state and is closed, never reused; whether the operation
    /// took effect is unknown too ([`StoreError::Timeout`]; a purchase: `Failed`). Behind a
    /// pooler, `op` runs in a transaction of its own that carries the session settings.
    pub(super) async fn bounded_on<T>(
        &self,
        mut conn: PoolConnection<Postgres>,
        statements: u32,
        op: impl AsyncFnOnce(&mut PgConnection, Route) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let deadline = self.deadline_for(statements);
        let route = self.route();
        let run = async {
            match route {
                Route::Direct => op(&mut conn, route).await,
                Route::Pooled => {
                    let begin = pg_route::begin_pooled(self.statement_timeout);
                    let mut tx = conn.begin_with(sqlx::AssertSqlSafe(begin)).await?;
                    match op(&mut tx, route).await {
                        Ok(value) => {
                            tx.commit().await?;
                            Ok(value)
                        }
                        // Now, not on the connection's next use: until then a pooler would
                        // keep its server connection held by our open transaction.
                        Err(e) => {
                            let _ = tx.rollback().await;
                            Err(e)
                        }
                    }
                }
            }
        };
        let result = tokio::time::timeout(deadline, run).await;
        result.unwrap_or_else(|_| {
            conn.close_on_drop();
            Err(StoreError::Timeout(deadline))
        })
    }

    /// [`PgBackend::bounded_on`] a freshly acquired connection (the acquire is bounded by its
    /// own timeout, outside the deadline).
    pub(super) async fn bounded<T>(
        &self,
        statements: u32,
        op: impl AsyncFnOnce(&mut PgConnection, Route) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.acquire().await?;
        self.bounded_on(conn, statements, op).await
    }
}
