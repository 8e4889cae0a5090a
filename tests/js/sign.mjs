// A wallet's signature of a loan record, made with ethers v6 as any party would make it.
//
// Reads {"private_key": "0x…", "typed_data": {…}} as JSON on stdin, where typed_data is what
// GET /v1/loans/{id}/signing answers (eth_signTypedData_v4 shape); prints
// {"address": "0x…", "signature": "0x…"}. ethers derives the domain type itself and refuses it
// among the types, so EIP712Domain is dropped first.
import { Wallet } from "ethers";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { private_key: privateKey, typed_data: typedData } = JSON.parse(Buffer.concat(chunks));
const { EIP712Domain, ...types } = typedData.types;
const wallet = new Wallet(privateKey);
const signature = await wallet.signTypedData(typedData.domain, types, typedData.message);
process.stdout.write(JSON.stringify({ address: wallet.address, signature }));
