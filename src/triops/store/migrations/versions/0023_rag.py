"""Knowledge collections for retrieval: collections, documents, chunks, vectors.

Revision ID: 0023_rag
Revises: 0022_improvement_loop
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0023_rag"
down_revision = "0022_improvement_loop"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rag_collections",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("embedding", sa.String(256), nullable=False),
        sa.Column("chunking", JSON, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("meta", JSON, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ux_rag_collections_name", "rag_collections", ["project", "name"],
                    unique=True)
    op.create_table(
        "rag_documents",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("collection_id", sa.String(32),
                  sa.ForeignKey("rag_collections.id", ondelete="CASCADE"), nullable=False),
        sa.Column("doc_id", sa.String(512), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("meta", JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ux_rag_documents_doc", "rag_documents", ["collection_id", "doc_id"],
                    unique=True)
    op.create_table(
        "rag_chunks",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("collection_id", sa.String(32),
                  sa.ForeignKey("rag_collections.id", ondelete="CASCADE"), nullable=False),
        sa.Column("document_id", sa.BigInteger(),
                  sa.ForeignKey("rag_documents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("heading", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_rag_chunks_collection", "rag_chunks", ["collection_id", "id"])
    op.create_index("ix_rag_chunks_document", "rag_chunks", ["document_id", "ordinal"])
    op.create_table(
        "rag_vectors",
        sa.Column("chunk_id", sa.BigInteger(),
                  sa.ForeignKey("rag_chunks.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("model", sa.String(256), primary_key=True),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rag_vectors")
    op.drop_table("rag_chunks")
    op.drop_table("rag_documents")
    op.drop_index("ux_rag_collections_name", table_name="rag_collections")
    op.drop_table("rag_collections")
