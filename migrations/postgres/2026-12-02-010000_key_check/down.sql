DROP TABLE server_key_check;
