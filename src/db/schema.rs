//! Diesel schema, written by hand with portable column types so one query
//! serves SQLite and PostgreSQL. Timestamps are unix seconds.

diesel::table! {
    api_tokens (id) {
        id -> Text,
        name -> Text,
        token_hash -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    withdraw_links (id) {
        id -> Text,
        secret_lookup -> Text,
        secret_enc -> Text,
        min_msat -> BigInt,
        max_msat -> BigInt,
        uses_total -> BigInt,
        uses_left -> BigInt,
        wait_seconds -> BigInt,
        next_use_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        title -> Text,
        description -> Text,
        webhook_url -> Nullable<Text>,
        external_id -> Nullable<Text>,
        batch_id -> Nullable<Text>,
        balance_check -> Bool,
        pay_link -> Nullable<Text>,
        disabled_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    withdrawals (id) {
        id -> Text,
        link_id -> Text,
        payment_hash -> Text,
        bolt11 -> Text,
        amount_msat -> BigInt,
        max_fee_msat -> BigInt,
        state -> Text,
        fee_msat -> Nullable<BigInt>,
        preimage -> Nullable<Text>,
        failure_reason -> Nullable<Text>,
        attempts -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        completed_at -> Nullable<BigInt>,
        node_pubkey -> Nullable<Text>,
    }
}

diesel::table! {
    pay_links (id) {
        id -> Text,
        username -> Nullable<Text>,
        description -> Text,
        long_description -> Nullable<Text>,
        image_mime -> Nullable<Text>,
        image_base64 -> Nullable<Text>,
        min_msat -> BigInt,
        max_msat -> BigInt,
        comment_allowed -> BigInt,
        success_action -> Nullable<Text>,
        payer_data -> Nullable<Text>,
        metadata -> Text,
        webhook_url -> Nullable<Text>,
        disabled_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        allows_nostr -> Bool,
    }
}

diesel::table! {
    pay_invoices (payment_hash) {
        payment_hash -> Text,
        pay_link_id -> Text,
        bolt11 -> Text,
        amount_msat -> BigInt,
        comment -> Nullable<Text>,
        payer_data -> Nullable<Text>,
        state -> Text,
        preimage -> Nullable<Text>,
        amount_paid_msat -> Nullable<BigInt>,
        settle_index -> Nullable<BigInt>,
        expires_at -> BigInt,
        created_at -> BigInt,
        settled_at -> Nullable<BigInt>,
        expired_at -> Nullable<BigInt>,
        node_checked_at -> Nullable<BigInt>,
        node_pubkey -> Nullable<Text>,
        zap_request -> Nullable<Text>,
        zap_receipt -> Nullable<Text>,
    }
}

diesel::table! {
    zap_publications (id) {
        id -> Text,
        payment_hash -> Text,
        relay -> Text,
        state -> Text,
        attempts -> BigInt,
        next_attempt_at -> BigInt,
        give_up_at -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        published_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    nodes (pubkey) {
        pubkey -> Text,
        network -> Text,
        settle_index -> BigInt,
        is_current -> Bool,
        recorded_at -> BigInt,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    node_state (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        event_type -> Text,
        payload -> Text,
        target_url -> Nullable<Text>,
        state -> Text,
        attempts -> BigInt,
        next_attempt_at -> BigInt,
        retry_from -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        delivered_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    event_attempts (id) {
        id -> Text,
        event_id -> Text,
        attempt_no -> BigInt,
        attempted_at -> BigInt,
        url -> Text,
        status_code -> Nullable<BigInt>,
        error -> Nullable<Text>,
        duration_ms -> BigInt,
    }
}

diesel::table! {
    webhook_endpoints (url) {
        url -> Text,
        secret_enc -> Text,
        created_at -> BigInt,
        rotated_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    withdraw_batches (id) {
        id -> Text,
        external_id -> Nullable<Text>,
        voucher_count -> BigInt,
        min_msat -> BigInt,
        max_msat -> BigInt,
        uses -> BigInt,
        wait_seconds -> BigInt,
        expires_at -> Nullable<BigInt>,
        title -> Text,
        description -> Text,
        webhook_url -> Nullable<Text>,
        balance_check -> Bool,
        pay_link -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::joinable!(withdrawals -> withdraw_links (link_id));
diesel::joinable!(pay_invoices -> pay_links (pay_link_id));
diesel::joinable!(event_attempts -> events (event_id));
diesel::joinable!(zap_publications -> pay_invoices (payment_hash));
diesel::allow_tables_to_appear_in_same_query!(
    api_tokens,
    withdraw_links,
    withdrawals,
    pay_links,
    pay_invoices,
    node_state,
    nodes,
    events,
    event_attempts,
    webhook_endpoints,
    withdraw_batches,
    zap_publications,
);

diesel::table! {
    server_key_check (id) {
        id -> BigInt,
        check_value -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    dev_invoices (payment_hash) {
        payment_hash -> Text,
        bolt11 -> Text,
        preimage -> Text,
        amount_msat -> BigInt,
        state -> Text,
        add_index -> BigInt,
        settle_index -> Nullable<BigInt>,
        created_at -> BigInt,
        settled_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    dev_payments (payment_hash) {
        payment_hash -> Text,
        bolt11 -> Text,
        amount_msat -> BigInt,
        fee_msat -> BigInt,
        state -> Text,
        failure_reason -> Nullable<Text>,
        preimage -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    dev_node_state (id) {
        id -> BigInt,
        add_index -> BigInt,
        settle_index -> BigInt,
        net_msat -> BigInt,
    }
}

diesel::table! {
    offline_registrations (pubkey) {
        pubkey -> Text,
        username -> Nullable<Text>,
        webhook_url -> Text,
        webhook_host -> Text,
        offer -> Nullable<Text>,
        created_at -> BigInt,
        refreshed_at -> BigInt,
        pushes_sent -> BigInt,
        replies_accepted -> BigInt,
        replies_refused -> BigInt,
        timeouts -> BigInt,
    }
}

diesel::table! {
    offline_claims (statement_hash) {
        statement_hash -> Text,
        pubkey -> Text,
        route -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    offline_name_holds (name) {
        name -> Text,
        pubkey -> Text,
        held_until -> BigInt,
    }
}

diesel::table! {
    offline_requests (id) {
        id -> Text,
        token_hash -> Text,
        pubkey -> Text,
        kind -> Text,
        coalesce_key -> Nullable<Text>,
        amount_msat -> Nullable<BigInt>,
        comment -> Nullable<Text>,
        callback -> Text,
        state -> Text,
        answer -> Nullable<Text>,
        invoice_hash -> Nullable<Text>,
        created_at -> BigInt,
        deadline -> BigInt,
        verify_hash -> Nullable<Text>,
    }
}

diesel::table! {
    offline_invoices (payment_hash) {
        payment_hash -> Text,
        pubkey -> Text,
        bolt11 -> Text,
        expires_at -> BigInt,
        preimage -> Nullable<Text>,
        verify_body -> Nullable<Text>,
        verify_cached_until -> BigInt,
        created_at -> BigInt,
        verifiable -> Bool,
    }
}

diesel::table! {
    offline_info (pubkey) {
        pubkey -> Text,
        body -> Text,
        metadata -> Text,
        prev_metadata -> Nullable<Text>,
        min_msat -> BigInt,
        max_msat -> BigInt,
        cached_until -> BigInt,
    }
}
