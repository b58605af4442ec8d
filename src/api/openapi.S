/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OpenAPI document, embedded as a NUL-terminated string so GET /api/v1/openapi.json
 * and the route test read the same bytes. The path is relative to the tree root, where
 * the Makefile runs the assembler.
 */
	.section .rodata
	.global api_openapi_document
	.type api_openapi_document, @object
	.balign 16
api_openapi_document:
	.incbin "src/api/openapi.json"
	.byte 0
	.size api_openapi_document, . - api_openapi_document

	.section .note.GNU-stack, "", @progbits
