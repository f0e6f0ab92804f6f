DROP INDEX api_tokens_active_name;
