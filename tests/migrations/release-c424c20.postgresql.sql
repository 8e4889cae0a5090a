-- The schema release c424c20 (the last before migrations) made with create_all, on postgresql.
-- Generated from that release's ledger/store.py: a fixture of tests/migrations.

CREATE TABLE batches (
	root VARCHAR(66) NOT NULL, 
	tx_hash VARCHAR(66) NOT NULL, 
	block_number BIGINT NOT NULL, 
	block_time BIGINT NOT NULL, 
	size INTEGER NOT NULL, 
	created_at FLOAT NOT NULL, 
	PRIMARY KEY (root)
);

CREATE TABLE chain_events (
	block_number BIGINT NOT NULL, 
	log_index INTEGER NOT NULL, 
	tx_hash VARCHAR(66) NOT NULL, 
	contract VARCHAR(32) NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	args_json TEXT NOT NULL, 
	block_time BIGINT NOT NULL, 
	PRIMARY KEY (block_number, log_index)
);
CREATE INDEX ix_chain_events_name ON chain_events (name);

CREATE TABLE documents (
	sha256 VARCHAR(66) NOT NULL, 
	media_type VARCHAR(100) NOT NULL, 
	size BIGINT NOT NULL, 
	ciphertext BYTEA, 
	wrapped_key BYTEA, 
	created_at FLOAT NOT NULL, 
	shredded_at FLOAT, 
	PRIMARY KEY (sha256)
);

CREATE TABLE meta (
	key VARCHAR(64) NOT NULL, 
	value TEXT NOT NULL, 
	PRIMARY KEY (key)
);

CREATE TABLE participants (
	id INTEGER NOT NULL, 
	role VARCHAR(32) NOT NULL, 
	institution_type VARCHAR(32) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	signer_address VARCHAR(42) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	custodial BOOLEAN NOT NULL, 
	encrypted_key BYTEA, 
	registered_at BIGINT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_participants_role ON participants (role);
CREATE INDEX ix_participants_signer_address ON participants (signer_address);

CREATE TABLE receipts (
	record_id VARCHAR(66) NOT NULL, 
	receipt_json TEXT NOT NULL, 
	PRIMARY KEY (record_id)
);

CREATE TABLE submissions (
	record_id VARCHAR(66) NOT NULL, 
	status VARCHAR(24) NOT NULL, 
	anchoring VARCHAR(16) NOT NULL, 
	agreement_digest VARCHAR(66) NOT NULL, 
	platform_id INTEGER NOT NULL, 
	funder_id INTEGER NOT NULL, 
	guarantor_id INTEGER NOT NULL, 
	co_funder_id INTEGER NOT NULL, 
	institution_type VARCHAR(32) NOT NULL, 
	principal BIGINT NOT NULL, 
	apr_bps INTEGER NOT NULL, 
	issued_at BIGINT NOT NULL, 
	flags INTEGER NOT NULL, 
	record_json TEXT NOT NULL, 
	signatures_json TEXT NOT NULL, 
	document_json TEXT NOT NULL, 
	disclosure_json TEXT, 
	provenance_json TEXT NOT NULL, 
	entry_timestamp_json TEXT, 
	created_at FLOAT NOT NULL, 
	queued_at FLOAT, 
	anchored_at FLOAT, 
	batch_root VARCHAR(66), 
	proof_json TEXT, 
	tx_hash VARCHAR(66), 
	block_number BIGINT, 
	block_time BIGINT, 
	rejection_code VARCHAR(64), 
	rejection_reason TEXT, 
	retired VARCHAR(16), 
	PRIMARY KEY (record_id)
);
CREATE INDEX ix_submissions_agreement_platform ON submissions (agreement_digest, platform_id);
CREATE INDEX ix_submissions_apr_bps ON submissions (apr_bps);
CREATE INDEX ix_submissions_batch_root ON submissions (batch_root);
CREATE INDEX ix_submissions_funder_id ON submissions (funder_id);
CREATE INDEX ix_submissions_guarantor_id ON submissions (guarantor_id);
CREATE INDEX ix_submissions_institution_type ON submissions (institution_type);
CREATE INDEX ix_submissions_issued_at ON submissions (issued_at);
CREATE INDEX ix_submissions_platform_id ON submissions (platform_id);
CREATE INDEX ix_submissions_status ON submissions (status);
CREATE INDEX ix_submissions_status_queued ON submissions (status, queued_at);

CREATE TABLE api_keys (
	id SERIAL NOT NULL, 
	key_hash VARCHAR(64) NOT NULL, 
	participant_id INTEGER NOT NULL, 
	role VARCHAR(32) NOT NULL, 
	created_at FLOAT NOT NULL, 
	revoked BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(participant_id) REFERENCES participants (id)
);
CREATE UNIQUE INDEX ix_api_keys_key_hash ON api_keys (key_hash);
