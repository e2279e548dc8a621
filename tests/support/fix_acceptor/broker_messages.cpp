// Outgoing FIX 4.4 messages of the scripted broker and the read-only requests: execution
// reports, cancel rejects, order status, market data, positions, collateral and security list.
#include "broker.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <sstream>
#include <sys/time.h>

#include "quickfix/fix44/CollateralReport.h"
#include "quickfix/fix44/ExecutionReport.h"
#include "quickfix/fix44/MarketDataIncrementalRefresh.h"
#include "quickfix/fix44/MarketDataRequestReject.h"
#include "quickfix/fix44/MarketDataSnapshotFullRefresh.h"
#include "quickfix/fix44/OrderCancelReject.h"
#include "quickfix/fix44/PositionReport.h"
#include "quickfix/fix44/RequestForPositionsAck.h"
#include "quickfix/fix44/SecurityList.h"

// The user-defined tag that carries an instrument's tick size in SecurityList (FIX 4.4 has no
// MinPriceIncrement); documented in README.md.
static const int kTickSizeTag = 5001;

// ---------------------------------------------------------------- helpers

std::string formatNumber( double value )
{
  // FIX wants plain decimals (no exponent): 15 significant digits, trailing zeros dropped.
  if ( std::fabs( value ) < 1e-12 ) return "0";
  int magnitude = static_cast<int>( std::floor( std::log10( std::fabs( value ) ) ) );
  int decimals = std::max( 0, std::min( 12, 14 - magnitude ) );
  char buffer[ 64 ];
  std::snprintf( buffer, sizeof( buffer ), "%.*f", decimals, value );
  std::string text = buffer;
  if ( text.find( '.' ) != std::string::npos )
  {
    text.erase( text.find_last_not_of( '0' ) + 1 );
    if ( text[ text.size() - 1 ] == '.' ) text.erase( text.size() - 1 );
  }
  return text == "-0" ? "0" : text;
}

double epochNow()
{
  struct timeval tv;
  gettimeofday( &tv, 0 );
  return tv.tv_sec + tv.tv_usec / 1e6;
}

static std::string utcText( double epochSeconds, bool withTime )
{
  time_t seconds = static_cast<time_t>( epochSeconds );
  int millis = static_cast<int>( ( epochSeconds - seconds ) * 1000.0 );
  struct tm parts;
  gmtime_r( &seconds, &parts );
  char buffer[ 64 ];
  if ( withTime )
    std::snprintf( buffer, sizeof( buffer ), "%04d%02d%02d-%02d:%02d:%02d.%03d",
                   parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour,
                   parts.tm_min, parts.tm_sec, millis );
  else
    std::snprintf( buffer, sizeof( buffer ), "%04d%02d%02d", parts.tm_year + 1900,
                   parts.tm_mon + 1, parts.tm_mday );
  return buffer;
}

std::string utcNowText() { return utcText( epochNow(), true ); }

bool parseUtcTimestamp( const std::string& text, double& epochSeconds )
{
  struct tm parts = tm();
  int consumed = 0;
  if ( std::sscanf( text.c_str(), "%4d%2d%2d-%2d:%2d:%2d%n", &parts.tm_year, &parts.tm_mon,
                    &parts.tm_mday, &parts.tm_hour, &parts.tm_min, &parts.tm_sec,
                    &consumed ) != 6 || consumed != 17 )
    return false;
  double fraction = 0;
  if ( text.size() > 17 )
  {
    if ( text[ 17 ] != '.' ) return false;
    char* end = 0;
    fraction = std::strtod( text.c_str() + 17, &end );
    if ( *end != '\0' ) return false;
  }
  parts.tm_year -= 1900;
  parts.tm_mon -= 1;
  epochSeconds = static_cast<double>( timegm( &parts ) ) + fraction;
  return true;
}

// Every value of a tag in a message, its repeating groups included, in order.
static void collectValues( const FIX::FieldMap& map, int tag, std::vector<std::string>& values )
{
  for ( FIX::FieldMap::const_iterator i = map.begin(); i != map.end(); ++i )
    if ( i->getTag() == tag ) values.push_back( i->getString() );
  for ( FIX::FieldMap::g_const_iterator g = map.g_begin(); g != map.g_end(); ++g )
    for ( size_t k = 0; k < g->second.size(); ++k ) collectValues( *g->second[ k ], tag, values );
}

static std::vector<std::string> allValues( const FIX::Message& m, int tag )
{
  std::vector<std::string> values;
  collectValues( m, tag, values );
  return values;
}

static std::string textOr( const FIX::Message& m, int tag, const std::string& fallback )
{
  return m.isSetField( tag ) ? m.getField( tag ) : fallback;
}

// ---------------------------------------------------------------- outbox

void Outbox::push( const FIX::Message& message, const FIX::SessionID& session )
{
  std::lock_guard<std::mutex> lock( m_mutex );
  Outgoing item;
  item.message = message;
  item.session = session;
  m_queue.push_back( item );
  ++m_pushed;
  m_changed.notify_all();
}

bool Outbox::pop( Outgoing& out )
{
  std::unique_lock<std::mutex> lock( m_mutex );
  while ( m_queue.empty() && !m_closed ) m_changed.wait( lock );
  if ( m_queue.empty() ) return false;
  out = m_queue.front();
  m_queue.pop_front();
  return true;
}

void Outbox::markSent()
{
  std::lock_guard<std::mutex> lock( m_mutex );
  ++m_sent;
  m_changed.notify_all();
}

bool Outbox::waitDrained( int timeoutMs )
{
  std::unique_lock<std::mutex> lock( m_mutex );
  uint64_t target = m_pushed;
  return m_changed.wait_for( lock, std::chrono::milliseconds( timeoutMs ),
                             [&] { return m_sent >= target || m_closed; } );
}

void Outbox::close()
{
  std::lock_guard<std::mutex> lock( m_mutex );
  m_closed = true;
  m_changed.notify_all();
}

// ---------------------------------------------------------------- execution reports

FIX::Message Broker::executionReport( const Order& o, char execType )
{
  FIX44::ExecutionReport r;
  bool open = o.status == '0' || o.status == '1';
  r.setField( 37, o.orderId );
  r.setField( 11, o.clOrdId );
  if ( !o.origClOrdId.empty() ) r.setField( 41, o.origClOrdId );
  r.setField( 17, nextExecId() );
  r.setField( 150, std::string( 1, execType ) );
  r.setField( 39, std::string( 1, o.status ) );
  r.setField( 1, o.account );
  r.setField( 55, o.symbol );
  r.setField( 54, std::string( 1, o.side ) );
  r.setField( 38, formatNumber( o.qty ) );
  r.setField( 40, std::string( 1, o.ordType ) );
  if ( o.price > 0 ) r.setField( 44, formatNumber( o.price ) );
  if ( o.stopPx > 0 ) r.setField( 99, formatNumber( o.stopPx ) );
  r.setField( 59, std::string( 1, o.tif ) );
  if ( !o.expireTimeText.empty() ) r.setField( 126, o.expireTimeText );
  r.setField( 15, m_settings.currency );
  r.setField( 151, formatNumber( open ? o.qty - o.cum : 0.0 ) );
  r.setField( 14, formatNumber( o.cum ) );
  r.setField( 6, formatNumber( o.avgPx ) );
  r.setField( 60, utcNowText() );
  return r;
}

void Broker::emit( Order& o, const FIX::Message& report, bool isFill )
{
  if ( o.muted ) return;
  int copies = o.duplicateReports ? 2 : 1;
  if ( o.hasPendingAck )
  {
    o.hasPendingAck = false;
    if ( isFill )
    {
      for ( int i = 0; i < copies; ++i ) m_outbox.push( report, o.session );
      for ( int i = 0; i < copies; ++i ) m_outbox.push( o.pendingAck, o.session );
      return;
    }
    for ( int i = 0; i < copies; ++i ) m_outbox.push( o.pendingAck, o.session );
  }
  for ( int i = 0; i < copies; ++i ) m_outbox.push( report, o.session );
}

void Broker::sendCancelReject( const FIX::SessionID& session, const std::string& clOrdId,
                               const std::string& origClOrdId, const Order* o, char responseTo,
                               int reason, const std::string& text )
{
  FIX44::OrderCancelReject r;
  r.setField( 37, o ? o->orderId : std::string( "NONE" ) );
  r.setField( 11, clOrdId );
  r.setField( 41, origClOrdId );
  r.setField( 39, std::string( 1, o ? o->status : '8' ) );
  r.setField( 434, std::string( 1, responseTo ) );
  std::ostringstream code;
  code << reason;
  r.setField( 102, code.str() );
  r.setField( 58, text );
  r.setField( 60, utcNowText() );
  m_outbox.push( r, session );
}

void Broker::onStatusRequest( const FIX::Message& m, const FIX::SessionID& session )
{
  std::lock_guard<std::mutex> lock( m_mutex );
  std::string clOrdId = m.getField( 11 );
  OrderPtr order = find( clOrdId );
  FIX::Message report;
  if ( order )
  {
    report = executionReport( *order, 'I' );
    if ( !order->text.empty() ) report.setField( 58, order->text );
  }
  else
  {
    FIX44::ExecutionReport r;
    r.setField( 37, "NONE" );
    r.setField( 11, clOrdId );
    r.setField( 17, nextExecId() );
    r.setField( 150, "I" );
    r.setField( 39, "8" );
    r.setField( 55, textOr( m, 55, "NONE" ) );
    r.setField( 54, textOr( m, 54, "1" ) );
    r.setField( 151, "0" );
    r.setField( 14, "0" );
    r.setField( 6, "0" );
    r.setField( 58, "unknown order" );
    r.setField( 60, utcNowText() );
    report = r;
  }
  if ( m.isSetField( 790 ) ) report.setField( 790, m.getField( 790 ) );
  m_outbox.push( report, session );
}

// ---------------------------------------------------------------- market data

void Broker::onMarketDataRequest( const FIX::Message& m, const FIX::SessionID& session )
{
  std::lock_guard<std::mutex> lock( m_mutex );
  std::string reqId = m.getField( 262 );
  std::string type = m.getField( 263 );
  if ( type == "2" )
  {
    for ( size_t i = m_subscriptions.size(); i-- > 0; )
      if ( m_subscriptions[ i ].session == session && m_subscriptions[ i ].reqId == reqId )
        m_subscriptions.erase( m_subscriptions.begin() + i );
    return;
  }
  std::vector<std::string> symbols = allValues( m, 55 );
  std::vector<std::string> entryTypes = allValues( m, 269 );
  Subscription sub;
  sub.session = session;
  sub.reqId = reqId;
  if ( !entryTypes.empty() )
  {
    sub.bid = sub.ask = false;
    for ( size_t i = 0; i < entryTypes.size(); ++i )
    {
      if ( entryTypes[ i ] == "0" ) sub.bid = true;
      if ( entryTypes[ i ] == "1" ) sub.ask = true;
    }
  }
  std::string problem;
  std::string reason = "0";  // MDReqRejReason: 0 unknown symbol, 4 unsupported request type
  if ( type != "0" && type != "1" )
  {
    problem = "unsupported SubscriptionRequestType " + type;
    reason = "4";
  }
  else if ( symbols.empty() )
    problem = "no symbol requested";
  for ( size_t i = 0; i < symbols.size() && problem.empty(); ++i )
    if ( m_instruments.find( symbols[ i ] ) == m_instruments.end() )
      problem = "unknown symbol " + symbols[ i ];
  if ( !problem.empty() )
  {
    FIX44::MarketDataRequestReject reject;
    reject.setField( 262, reqId );
    reject.setField( 281, reason );
    reject.setField( 58, problem );
    m_outbox.push( reject, session );
    return;
  }
  for ( size_t i = 0; i < symbols.size(); ++i )
  {
    const Quote& q = m_instruments[ symbols[ i ] ].quote;
    FIX44::MarketDataSnapshotFullRefresh snapshot;
    snapshot.setField( 262, reqId );
    snapshot.setField( 55, symbols[ i ] );
    for ( int side = 0; side < 2 && q.set; ++side )
    {
      if ( ( side == 0 && !sub.bid ) || ( side == 1 && !sub.ask ) ) continue;
      FIX44::MarketDataSnapshotFullRefresh::NoMDEntries entry;
      entry.setField( 269, side == 0 ? "0" : "1" );
      entry.setField( 270, formatNumber( side == 0 ? q.bid : q.ask ) );
      entry.setField( 271, formatNumber( side == 0 ? q.bidSize : q.askSize ) );
      snapshot.addGroup( entry );
    }
    if ( !q.set ) snapshot.setField( 268, "0" );
    m_outbox.push( snapshot, session );
    sub.symbols.insert( symbols[ i ] );
  }
  if ( type == "1" ) m_subscriptions.push_back( sub );
}

void Broker::publishQuote( const std::string& symbol, bool firstQuote )
{
  const Quote& q = m_instruments[ symbol ].quote;
  for ( size_t i = 0; i < m_subscriptions.size(); ++i )
  {
    const Subscription& sub = m_subscriptions[ i ];
    if ( sub.symbols.count( symbol ) == 0 ) continue;
    FIX44::MarketDataIncrementalRefresh update;
    update.setField( 262, sub.reqId );
    for ( int side = 0; side < 2; ++side )
    {
      if ( ( side == 0 && !sub.bid ) || ( side == 1 && !sub.ask ) ) continue;
      FIX44::MarketDataIncrementalRefresh::NoMDEntries entry;
      entry.setField( 279, firstQuote ? "0" : "1" );
      entry.setField( 269, side == 0 ? "0" : "1" );
      entry.setField( 55, symbol );
      entry.setField( 270, formatNumber( side == 0 ? q.bid : q.ask ) );
      entry.setField( 271, formatNumber( side == 0 ? q.bidSize : q.askSize ) );
      update.addGroup( entry );
    }
    m_outbox.push( update, sub.session );
  }
}

void Broker::onLogout( const FIX::SessionID& session )
{
  std::lock_guard<std::mutex> lock( m_mutex );
  for ( size_t i = m_subscriptions.size(); i-- > 0; )
    if ( m_subscriptions[ i ].session == session )
      m_subscriptions.erase( m_subscriptions.begin() + i );
}

// ---------------------------------------------------------------- account and instruments

void Broker::onPositionsRequest( const FIX::Message& m, const FIX::SessionID& session )
{
  std::lock_guard<std::mutex> lock( m_mutex );
  std::string reqId = m.getField( 710 );
  std::string businessDate = utcText( epochNow(), false );
  std::vector<std::string> symbols;
  for ( std::map<std::string, Position>::const_iterator i = m_positions.begin();
        i != m_positions.end(); ++i )
    if ( std::fabs( i->second.net ) > 1e-9 ) symbols.push_back( i->first );
  std::ostringstream total;
  total << symbols.size();

  FIX44::RequestForPositionsAck ack;
  ack.setField( 721, nextId( "P" ) );
  ack.setField( 710, reqId );
  ack.setField( 727, total.str() );
  ack.setField( 728, symbols.empty() ? "2" : "0" );
  ack.setField( 729, "0" );
  ack.setField( 1, m_settings.account );
  ack.setField( 581, "1" );
  m_outbox.push( ack, session );

  for ( size_t i = 0; i < symbols.size(); ++i )
  {
    const Position& p = m_positions[ symbols[ i ] ];
    FIX44::PositionReport report;
    report.setField( 721, nextId( "P" ) );
    report.setField( 710, reqId );
    report.setField( 724, textOr( m, 724, "0" ) );
    report.setField( 727, total.str() );
    report.setField( 728, "0" );
    report.setField( 715, businessDate );
    report.setField( 1, m_settings.account );
    report.setField( 581, "1" );
    report.setField( 55, symbols[ i ] );
    report.setField( 15, m_settings.currency );
    report.setField( 730, formatNumber( p.avgPx ) );
    report.setField( 731, "1" );
    report.setField( 734, formatNumber( p.avgPx ) );
    FIX44::PositionReport::NoPositions quantity;
    quantity.setField( 703, "TOT" );
    quantity.setField( 704, formatNumber( p.net > 0 ? p.net : 0.0 ) );
    quantity.setField( 705, formatNumber( p.net < 0 ? -p.net : 0.0 ) );
    report.addGroup( quantity );
    if ( i + 1 == symbols.size() ) report.setField( 912, "Y" );
    m_outbox.push( report, session );
  }
}

void Broker::onCollateralInquiry( const FIX::Message& m, const FIX::SessionID& session )
{
  std::lock_guard<std::mutex> lock( m_mutex );
  double netValue = m_cash;
  for ( std::map<std::string, Position>::const_iterator i = m_positions.begin();
        i != m_positions.end(); ++i )
  {
    const Quote& q = m_instruments[ i->first ].quote;
    double mark = q.set ? ( i->second.net > 0 ? q.bid : q.ask ) : i->second.avgPx;
    netValue += i->second.net * mark;
  }
  FIX44::CollateralReport report;
  report.setField( 908, nextId( "C" ) );
  if ( m.isSetField( 909 ) ) report.setField( 909, m.getField( 909 ) );
  report.setField( 910, "3" );
  report.setField( 911, "1" );
  report.setField( 912, "Y" );
  report.setField( 1, m_settings.account );
  report.setField( 15, m_settings.currency );
  report.setField( 899, formatNumber( m_cash - reservedCash( 0 ) ) );
  report.setField( 900, formatNumber( netValue ) );
  report.setField( 901, formatNumber( m_cash ) );
  m_outbox.push( report, session );
}

void Broker::onSecurityListRequest( const FIX::Message& m, const FIX::SessionID& session )
{
  std::lock_guard<std::mutex> lock( m_mutex );
  std::string requestType = textOr( m, 559, "4" );
  std::string wanted = textOr( m, 55, "" );
  std::vector<std::string> symbols;
  for ( std::map<std::string, Instrument>::const_iterator i = m_instruments.begin();
        i != m_instruments.end(); ++i )
    if ( requestType != "0" || wanted.empty() || i->first == wanted )
      symbols.push_back( i->first );
  std::ostringstream total;
  total << symbols.size();

  FIX44::SecurityList list;
  list.setField( 320, m.getField( 320 ) );
  list.setField( 322, nextId( "S" ) );
  list.setField( 560, symbols.empty() ? "2" : "0" );
  list.setField( 393, total.str() );
  list.setField( 893, "Y" );
  for ( size_t i = 0; i < symbols.size(); ++i )
  {
    const Instrument& inst = m_instruments[ symbols[ i ] ];
    FIX44::SecurityList::NoRelatedSym entry;
    entry.setField( 55, symbols[ i ] );
    entry.setField( 15, m_settings.currency );
    entry.setField( 561, formatNumber( inst.lot ) );
    entry.setField( 562, formatNumber( inst.lot ) );
    entry.setField( kTickSizeTag, formatNumber( inst.tick ) );
    list.addGroup( entry );
  }
  if ( symbols.empty() ) list.setField( 146, "0" );
  m_outbox.push( list, session );
}
