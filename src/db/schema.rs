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
    }
}

diesel::joinable!(withdrawals -> withdraw_links (link_id));
diesel::allow_tables_to_appear_in_same_query!(api_tokens, withdraw_links, withdrawals);
