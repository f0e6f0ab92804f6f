DROP TABLE withdrawals;
DROP TABLE withdraw_links;
DROP TABLE api_tokens;
